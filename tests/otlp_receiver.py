"""A real OTLP/HTTP trace receiver for the tests, on the ``opentelemetry-proto`` package.

It speaks the wire protocol a collector speaks (``POST /v1/traces``, an
``ExportTraceServiceRequest`` protobuf body, gzip or not, answered with an
``ExportTraceServiceResponse``), so what the tests see is what a collector would get from
Gati's processes: an in-memory exporter would skip the encoding, the HTTP export and the
process boundary, which are what can break.

It runs in a thread of the test process (``ThreadingHTTPServer``), because the systems
under test are separate processes started by synchronous fixtures.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

PROTOBUF = "application/x-protobuf"
MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """One span as it arrived; ids in lower-case hex, ``parent_id`` None for a root."""

    service: str
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str  # SERVER, CONSUMER, INTERNAL, ...
    attributes: dict[str, Any]
    events: tuple[tuple[str, dict[str, Any]], ...]
    error: bool
    trace_state: str

    def texts(self) -> list[str]:
        """Every string the span carries to a collector (to scan for secrets)."""
        out = [self.name, self.trace_state, *map(str, self.attributes.values())]
        for name, attrs in self.events:
            out += [name, *map(str, attrs.values())]
        return out


def _value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return None if which is None else getattr(v, which)


def _attributes(items: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in items}


def decode(body: bytes) -> list[ReceivedSpan]:
    """The spans of one ``ExportTraceServiceRequest``.

    Raises:
        DecodeError: the body is not that message.
    """
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                spans.append(ReceivedSpan(
                    service=service, trace_id=s.trace_id.hex(), span_id=s.span_id.hex(),
                    parent_id=s.parent_span_id.hex() or None, name=s.name,
                    kind=Span.SpanKind.Name(s.kind).removeprefix("SPAN_KIND_"),
                    attributes=_attributes(s.attributes),
                    events=tuple((e.name, _attributes(e.attributes)) for e in s.events),
                    error=s.status.code == Status.STATUS_CODE_ERROR,
                    trace_state=s.trace_state))
    return spans


class OtlpReceiver:
    """``POST /v1/traces`` on a loopback port; keeps every span it is sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self.rejected: list[str] = []  # why a request was refused (a test may assert none)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="otlp-receiver", daemon=True)

    @property
    def endpoint(self) -> str:
        """The base URL, as ``GATI_OTLP_ENDPOINT`` takes it."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def spans(self, trace_id: str | None = None) -> list[ReceivedSpan]:
        with self._lock:
            return [s for s in self._spans if trace_id is None or s.trace_id == trace_id]

    def _keep(self, spans: list[ReceivedSpan]) -> None:
        with self._lock:
            self._spans.extend(spans)

    def _refuse(self, reason: str) -> None:
        with self._lock:
            self.rejected.append(reason)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/v1/traces":
                    return self._answer(404, b"")
                if self.headers.get("content-type", "").split(";")[0].strip() != PROTOBUF:
                    receiver._refuse(f"content-type {self.headers.get('content-type')!r}")
                    return self._answer(415, b"")
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY:
                    receiver._refuse(f"body of {length} bytes")
                    return self._answer(413, b"")
                body = self.rfile.read(length)
                if self.headers.get("content-encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                try:
                    spans = decode(body)
                except DecodeError as exc:
                    receiver._refuse(f"not an ExportTraceServiceRequest: {exc}")
                    return self._answer(400, b"")
                receiver._keep(spans)
                self._answer(200, ExportTraceServiceResponse().SerializeToString())

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", PROTOBUF)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # the test's output stays its own

        return Handler

    def start(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
