"""The code in docs/handlers.md and docs/modules.md runs, and answers what the text says.

Every ```python block starts with a marker line:

- ``# test: run``: the block is executed on its own (fresh namespace, so it must be
  copy-pasteable). If it defines an ``App`` named ``app``, it must also say what a request
  answers, with lines like::

      # test: GET /hello/ada -> 200 {"hello": "ada"}
      # test: POST /users {"name": "Ada"} x-api-key=k1 -> 201

  (method, path with query, optional JSON body, optional ``header=value`` words, ``->``,
  the status and optionally the exact JSON body). The requests go, in order, through the
  real pipeline: ``WorkerRuntime`` starts the block's modules (``factory(config)``,
  ``start()``) and builds ``Services`` and the ``Pipeline``, as a worker does.
  ``# test: header name: value`` after a request line checks a response header;
  ``# test: secret NAME=value`` lines define the secrets the block can read.
- ``# test: skip <reason>``: shown, not run (a fragment, a shell session).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gati import App
from gati.config import Settings
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Outcome
from gati.core.ports import SystemClock
from gati.modules.secrets import EnvSecrets
from gati.worker.runtime import WorkerRuntime

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOC_FILES = ("handlers.md", "modules.md")
FENCE = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
REQUEST = re.compile(
    r"^# test: (GET|POST|PUT|PATCH|DELETE) (\S+)(.*?)-> (\d{3})(?: (.+))?$"
)
SECRET = re.compile(r"^# test: secret (\w+)=(\S+)$")
HEADER = re.compile(r"^# test: header ([\w-]+): (.+)$")


@dataclass
class Call:
    method: str
    target: str
    body: Any
    headers: dict[str, str]
    status: int
    expect_body: Any = None
    has_body: bool = False
    expect_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Block:
    doc: str
    line: int
    code: str
    marker: str
    calls: list[Call] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def _parse_call(m: re.Match[str]) -> Call:
    method, target, middle, status, tail = m.groups()
    middle = middle.strip()
    body: Any = None
    has_body = False
    if middle.startswith(("{", "[")):
        body, end = json.JSONDecoder().raw_decode(middle)
        has_body = True
        middle = middle[end:].strip()
    headers: dict[str, str] = {}
    for word in middle.split():
        name, sep, value = word.partition("=")
        assert sep, f"{word!r}: request headers are written name=value"
        headers[name.lower()] = value
    call = Call(method, target, body if has_body else None, headers, int(status))
    if tail is not None:
        call.expect_body = json.loads(tail)
        call.has_body = True
    if has_body:
        call.headers.setdefault("content-type", "application/json")
    return call


def _blocks(doc: str) -> list[Block]:
    text = (DOCS / doc).read_text()
    found = []
    for m in FENCE.finditer(text):
        code = m.group(1)
        line = text.count("\n", 0, m.start()) + 2  # the block's first code line
        marker = code.split("\n", 1)[0].strip()
        block = Block(doc, line, code, marker)
        for raw in code.splitlines():
            stripped = raw.strip()
            if (c := REQUEST.match(stripped)) is not None:
                block.calls.append(_parse_call(c))
            elif (s := SECRET.match(stripped)) is not None:
                block.secrets[s.group(1)] = s.group(2)
            elif (h := HEADER.match(stripped)) is not None:
                assert block.calls, f"{block.id}: a header line must follow a request line"
                block.calls[-1].expect_headers[h.group(1).lower()] = h.group(2)
            elif stripped.startswith("# test:") and stripped not in ("# test: run",) \
                    and not stripped.startswith("# test: skip"):
                raise AssertionError(f"{block.id}: cannot read the test line {stripped!r}")
        found.append(block)
    return found


ALL_BLOCKS = [b for doc in DOC_FILES for b in _blocks(doc)]
RUNNABLE = [b for b in ALL_BLOCKS if b.marker == "# test: run"]


def test_the_docs_have_runnable_examples() -> None:
    for doc in DOC_FILES:
        assert sum(1 for b in RUNNABLE if b.doc == doc) >= 4, f"{doc} lost its examples"


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: b.id)
def test_every_python_block_says_whether_it_runs(block: Block) -> None:
    assert block.marker == "# test: run" or block.marker.startswith("# test: skip "), (
        f"{block.id}: start the block with '# test: run' or '# test: skip <reason>'"
    )


def _envelope(call: Call, n: int) -> RequestEnvelope:
    now = SystemClock().now_us()
    path, _, query = call.target.partition("?")
    body = b"" if call.body is None else json.dumps(call.body).encode()
    return RequestEnvelope(
        request_id=f"doc-{n:04d}", gateway_id="gw-docs", reply_topic="gati.replies.gw-docs",
        reply_partition=0, received_at_us=now, deadline_at_us=now + 30_000_000,
        method=call.method, path=path, query=query,
        headers=tuple(call.headers.items()), body=body,
    )


def _check(block: Block, call: Call, out: Outcome) -> None:
    what = f"{block.id}: {call.method} {call.target}"
    stages = [e.stage for e in out.events]
    assert stages[-1] == "responded" and stages.count("responded") == 1, what
    got = out.response.body.decode(errors="replace")
    assert out.response.status == call.status, f"{what} answered {out.response.status}: {got}"
    if call.has_body:
        assert json.loads(out.response.body) == call.expect_body, f"{what} answered {got}"
    headers = dict(out.response.headers)
    for name, value in call.expect_headers.items():
        assert headers.get(name) == value, f"{what}: header {name} is {headers.get(name)!r}"


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
async def test_doc_example_runs(block: Block, tmp_path: Path) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs_{Path(block.doc).stem}_{block.line}"}
    exec(compile(block.code, block.id, "exec"), namespace)
    app = namespace.get("app")
    if not isinstance(app, App):
        assert not block.calls, f"{block.id} has requests but defines no App named app"
        return
    assert block.calls, f"{block.id} defines app: add '# test: METHOD PATH -> STATUS' lines"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/app.db")
    runtime = WorkerRuntime(app, settings, sources=[EnvSecrets(environ=block.secrets)])
    pipeline = await runtime.start()
    try:
        for n, call in enumerate(block.calls):
            _check(block, call, await pipeline.process(_envelope(call, n)))
    finally:
        await runtime.close()
