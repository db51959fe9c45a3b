"""docs/testing.md: every block marked ``# test: run`` executes as written.

Blocks run in order in one namespace, like a reader following the guide; a block that
defines ``async def main()`` has it run with ``asyncio.run``. Each block is its own test
(replaying the blocks before it), so a failure names the block that broke.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "testing.md"
MARK = "# test: run"
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def runnable_blocks(text: str) -> list[str]:
    return [b for b in FENCE.findall(text) if b.lstrip().startswith(MARK)]


def unmarked_blocks(text: str) -> list[str]:
    """Blocks that neither run nor say why not (``# test: skip <reason>``)."""
    return [b for b in FENCE.findall(text)
            if not b.lstrip().startswith(MARK) and not re.match(r"# test: skip \S", b.lstrip())]


BLOCKS = runnable_blocks(DOC.read_text())


def run_block(source: str, namespace: dict[str, Any], name: str) -> None:
    namespace.pop("main", None)
    exec(compile(source, name, "exec"), namespace)  # the doc is ours: trusted code
    main = namespace.get("main")
    if main is not None and inspect.iscoroutinefunction(main):
        asyncio.run(main())


def test_the_guide_has_runnable_blocks_and_the_extractor_finds_only_those() -> None:
    sample = f"```python\n{MARK}\nx = 1\n```\n\n```python\ny = 2\n```\n"
    assert runnable_blocks(sample) == [f"{MARK}\nx = 1\n"]
    assert len(BLOCKS) >= 8
    assert unmarked_blocks(DOC.read_text()) == []


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=lambda i: f"block{i + 1}")
def test_doc_block_runs(index: int) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_testing"}
    for i, block in enumerate(BLOCKS[: index + 1]):
        run_block(block, namespace, f"docs/testing.md block {i + 1}")
