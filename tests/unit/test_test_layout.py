"""The test tree itself: pytest's default import mode needs unique module basenames."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_basename_is_unique() -> None:
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py")
    clashes = sorted(name for name, count in names.items() if count > 1)
    assert clashes == [], f"rename these, two test modules share each name: {clashes}"
