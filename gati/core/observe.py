"""Ports for tracing and metrics, with no-op defaults.

The core opens spans and counts through these; ``gati.observability`` provides the
OpenTelemetry and Prometheus implementations, so the core never imports either.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from gati.core.envelopes import TraceContext

Attributes = Mapping[str, str | int | float | bool]


class Span(Protocol):
    def set_attribute(self, key: str, value: str | int | float | bool) -> None: ...

    def record_error(self, exc: BaseException, message: str) -> None:
        """Mark the span failed. ``message`` is the exception text already scrubbed of
        secrets; implementations export it, never ``str(exc)``."""
        ...


class Tracer(Protocol):
    def span(self, name: str, attributes: Attributes, *,
             parent: TraceContext | None = None) -> AbstractContextManager[Span]:
        """A span under the current one; under ``parent`` when given (the context another
        process's span sent along, e.g. the gateway's in the envelope)."""
        ...


class Counter(Protocol):
    def inc(self, amount: float = 1.0, **labels: str) -> None: ...


class Gauge(Protocol):
    def set(self, value: float, **labels: str) -> None: ...

    def inc(self, amount: float = 1.0, **labels: str) -> None: ...

    def dec(self, amount: float = 1.0, **labels: str) -> None: ...


class Histogram(Protocol):
    def observe(self, value: float, **labels: str) -> None: ...


class Metrics(Protocol):
    """``gctx.metrics``: instruments are created once by name and reused."""

    def counter(self, name: str, help: str = "", labels: tuple[str, ...] = ()) -> Counter: ...

    def gauge(self, name: str, help: str = "", labels: tuple[str, ...] = ()) -> Gauge: ...

    def histogram(
        self, name: str, help: str = "", labels: tuple[str, ...] = (),
        buckets: tuple[float, ...] | None = None,
    ) -> Histogram: ...


class _NoSpan:
    def set_attribute(self, key: str, value: str | int | float | bool) -> None:
        return None

    def record_error(self, exc: BaseException, message: str) -> None:
        return None


class NoTracer:
    @contextmanager
    def span(self, name: str, attributes: Attributes, *,
             parent: TraceContext | None = None) -> Iterator[Span]:
        yield _NoSpan()


class _NoInstrument:
    def inc(self, amount: float = 1.0, **labels: str) -> None:
        return None

    def dec(self, amount: float = 1.0, **labels: str) -> None:
        return None

    def set(self, value: float, **labels: str) -> None:
        return None

    def observe(self, value: float, **labels: str) -> None:
        return None


class NoMetrics:
    def counter(self, name: str, help: str = "", labels: tuple[str, ...] = ()) -> Counter:
        return _NoInstrument()

    def gauge(self, name: str, help: str = "", labels: tuple[str, ...] = ()) -> Gauge:
        return _NoInstrument()

    def histogram(
        self, name: str, help: str = "", labels: tuple[str, ...] = (),
        buckets: tuple[float, ...] | None = None,
    ) -> Histogram:
        return _NoInstrument()
