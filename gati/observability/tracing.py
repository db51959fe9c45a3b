"""The Tracer port on OpenTelemetry, and the OTLP/HTTP setup of ``GATI_OTLP_ENDPOINT``.

Providers are passed explicitly (``TracerProvider`` instance -> ``get_tracer``);
nothing calls ``opentelemetry.trace.set_tracer_provider``. Span nesting follows
OpenTelemetry's current-span context, which lives in a ``contextvars`` variable and so
follows each request's asyncio task (and the threads sync handlers run in).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from gati.core.observe import Attributes, Span

INSTRUMENTATION = "gati"
_TRACES_PATH = "/v1/traces"


class _OtelSpan:
    __slots__ = ("_span",)

    def __init__(self, span: trace_api.Span) -> None:
        self._span = span

    def set_attribute(self, key: str, value: str | int | float | bool) -> None:
        self._span.set_attribute(key, value)

    def record_error(self, exc: BaseException, message: str) -> None:
        # Only the type and the core's scrubbed message leave the process: the raw
        # exception text or a stack trace could carry a secret to the collector.
        self._span.add_event("exception", {"exception.type": type(exc).__name__,
                                           "exception.message": message})
        self._span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


class OtelTracer:
    """The Tracer port over an OpenTelemetry ``TracerProvider``.

    Args:
        provider: an SDK ``TracerProvider`` (with its processors and exporters) or any
            API provider, e.g. ``NoOpTracerProvider`` for a tracer that exports nothing.
    """

    def __init__(self, provider: trace_api.TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer(INSTRUMENTATION)

    @contextmanager
    def span(self, name: str, attributes: Attributes) -> Iterator[Span]:
        # The core records errors itself (record_error), so OpenTelemetry must not
        # record an escaping exception a second time.
        with self._tracer.start_as_current_span(
            name, attributes=dict(attributes), record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield _OtelSpan(span)

    @property
    def exporting(self) -> bool:
        """Whether spans go anywhere (an SDK provider) or are dropped at creation."""
        return isinstance(self.provider, TracerProvider)

    def shutdown(self) -> None:
        """Flush spans still in the batch and stop exporting; idempotent."""
        if isinstance(self.provider, TracerProvider):
            self.provider.shutdown()


def otlp_traces_url(endpoint: str) -> str:
    """``http://collector:4318`` -> ``http://collector:4318/v1/traces``; full URLs stay."""
    base = endpoint.strip().rstrip("/")
    return base if base.endswith(_TRACES_PATH) else base + _TRACES_PATH


def configure_tracing(service_name: str, otlp_endpoint: str) -> OtelTracer:
    """The tracer of one process: OTLP/HTTP export when an endpoint is given.

    With ``otlp_endpoint`` (``GATI_OTLP_ENDPOINT``: the collector's base URL such as
    ``http://localhost:4318``, or the full ``.../v1/traces`` URL) spans are batched and
    exported in the background under ``service.name = service_name``. With an empty
    endpoint the tracer wraps OpenTelemetry's ``NoOpTracerProvider``: spans cost next to
    nothing and go nowhere, and callers need not tell the two cases apart.

    Call :meth:`OtelTracer.shutdown` before exit to flush the last batch.
    """
    if not otlp_endpoint.strip():
        return OtelTracer(trace_api.NoOpTracerProvider())
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_traces_url(otlp_endpoint)))
    )
    return OtelTracer(provider)
