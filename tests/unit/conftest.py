"""Fixtures for the unit tier: real in-process ports (MemoryLog, SQLite on tmp_path)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gati.core.envelopes import RequestEnvelope
from gati.observability import OtelTracer
from gati.store import Store, open_store

NOW_US = 1_750_000_000_000_000  # a fixed "now" for the fake clock


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now_us: int = NOW_US) -> None:
        self.now = now_us

    def now_us(self) -> int:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_envelope(clock: FakeClock) -> Callable[..., RequestEnvelope]:
    """Build a RequestEnvelope received "now" with a 30 s deadline; override any field."""
    counter = iter(range(1_000_000))

    def make(**fields: Any) -> RequestEnvelope:
        values: dict[str, Any] = {
            "request_id": f"req-{next(counter):06d}",
            "gateway_id": "gw-test",
            "reply_topic": "gati.replies.gw-test",
            "reply_partition": 0,
            "received_at_us": clock.now,
            "deadline_at_us": clock.now + 30_000_000,
            "method": "GET",
            "path": "/",
            "query": "",
            "headers": (),
            "body": b"",
        }
        values.update(fields)
        return RequestEnvelope(**values)

    return make


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store("sqlite+aiosqlite:///" + str(tmp_path / "gati.db"), migrate_first=True)
    try:
        yield s
    finally:
        await s.close()


Probe = Callable[[], Awaitable[Any]]


async def _eventually(probe: Probe, *, within: float = 5.0, what: str = "condition") -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + within
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(0.01)


@pytest.fixture
def eventually() -> Callable[..., Awaitable[Any]]:
    return _eventually


# A tracer whose finished spans the test reads back: the tracing tests of gateway,
# pipeline and the port itself share it.
@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Iterator[OtelTracer]:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield OtelTracer(provider)
    provider.shutdown()
