"""The Tracer port on OpenTelemetry, and the OTLP/HTTP setup of ``GATI_OTLP_ENDPOINT``.

Providers are passed explicitly (``TracerProvider`` instance -> ``get_tracer``);
nothing calls ``opentelemetry.trace.set_tracer_provider``. Span nesting follows
OpenTelemetry's current-span context, which lives in a ``contextvars`` variable and so
follows each request's asyncio task (and the threads sync handlers run in).

Across processes the context travels as W3C Trace Context, read and written only by
OpenTelemetry's ``TraceContextTextMapPropagator``: the gateway continues the client's
``traceparent`` in its SERVER span (:meth:`OtelTracer.server_span`), the envelope
carries that span's context (:func:`current_trace`), and the worker's request span is
its child (``span(..., parent=env.trace)``). A malformed ``traceparent`` is ignored and
a new trace starts, as the W3C recommendation says; it is never an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gati.core.envelopes import TraceContext
from gati.core.observe import Attributes, Span

INSTRUMENTATION = "gati"
_TRACES_PATH = "/v1/traces"
_W3C = TraceContextTextMapPropagator()
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"


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


class ServerSpan:
    """The gateway's span of one request: what it answered, and the header it returns."""

    __slots__ = ("_span",)

    def __init__(self, span: trace_api.Span) -> None:
        self._span = span

    def answered(self, status: int, request_id: str | None) -> None:
        """Name the request and its status; a 5xx marks the span failed (a 4xx is the
        client's, as OpenTelemetry's HTTP conventions have it for server spans)."""
        if request_id:
            self._span.set_attribute("gati.request_id", request_id)
        self._span.set_attribute("http.status_code", status)
        if status >= 500:
            self._span.set_status(Status(StatusCode.ERROR, str(status)))

    def traceparent(self) -> str | None:
        """This span's ``traceparent`` for the response; None when there is no trace."""
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context=trace_api.set_span_in_context(self._span))
        return carrier.get(TRACEPARENT)


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
    def span(self, name: str, attributes: Attributes, *,
             parent: TraceContext | None = None) -> Iterator[Span]:
        """A span under the current one, or under ``parent`` (another process's span:
        the gateway's, from the envelope), which makes this the consumer of its message."""
        # The core records errors itself (record_error), so OpenTelemetry must not
        # record an escaping exception a second time.
        with self._tracer.start_as_current_span(
            name, context=_context_of(parent),
            kind=SpanKind.INTERNAL if parent is None else SpanKind.CONSUMER,
            attributes=dict(attributes), record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield _OtelSpan(span)

    @contextmanager
    def server_span(self, name: str, headers: Mapping[str, Sequence[str]],
                    attributes: Attributes) -> Iterator[ServerSpan]:
        """The SERVER span of an incoming request, continuing the trace its
        ``traceparent`` / ``tracestate`` headers name (``headers``: lower-cased names to
        their values), or starting one when they are absent or malformed.

        With the no-op provider no span is made, and a valid incoming context passes
        through unchanged: an untraced gateway forwards the client's trace.
        """
        context = _W3C.extract({k: list(v) for k, v in headers.items()
                                if k in (TRACEPARENT, TRACESTATE)})
        with self._tracer.start_as_current_span(
            name, context=context, kind=SpanKind.SERVER, attributes=dict(attributes),
            record_exception=False, set_status_on_exception=False,
        ) as span:
            yield ServerSpan(span)

    @property
    def exporting(self) -> bool:
        """Whether spans go anywhere (an SDK provider) or are dropped at creation."""
        return isinstance(self.provider, TracerProvider)

    def shutdown(self) -> None:
        """Flush spans still in the batch and stop exporting; idempotent."""
        if isinstance(self.provider, TracerProvider):
            self.provider.shutdown()


def current_trace() -> TraceContext | None:
    """The current span's context as W3C values (what the envelope carries), or None."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    parent = carrier.get(TRACEPARENT)
    return None if parent is None else TraceContext(parent, carrier.get(TRACESTATE, ""))


def _context_of(parent: TraceContext | None) -> Context | None:
    if parent is None:
        return None
    carrier = {TRACEPARENT: parent.traceparent}
    if parent.tracestate:
        carrier[TRACESTATE] = parent.tracestate
    return _W3C.extract(carrier)


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
