"""The events that flow through the log, as frozen values.

Field names match ``schemas/avro/*.avsc`` one to one; ``gati.codec`` maps them to and
from Avro records. Times are Unix epoch microseconds, as on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gati.policy._principal import AuthOutcome


class Stage(StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    EXPIRED = "expired"
    ROUTED = "routed"
    HANDLER_START = "handler_start"
    HANDLER_END = "handler_end"
    FAILED = "failed"
    RESPONDED = "responded"
    HOOK_START = "hook_start"
    HOOK_END = "hook_end"
    HOOK_ERROR = "hook_error"
    EFFECT = "effect"
    SNAPSHOT = "snapshot"
    COMPENSATION = "compensation"
    TIMEOUT = "timeout"
    LOG = "log"
    PUBLISH = "publish"
    TRANSFORM = "transform"
    UNHEALTHY = "version_unhealthy"
    # Fault tolerance (docs/operations.md, "Delivery guarantees"): a request delivered
    # again after its worker died is answered from its record (REDELIVERED) or resumed
    # from its effect journal (RESUMED), never silently run twice; one the broker
    # appended after its gateway had answered 503 is REFUSED, so it never runs.
    REDELIVERED = "redelivered"
    RESUMED = "resumed"
    REFUSED = "refused"
    # A journaled module call about to be made, durable before it is: a request resumed
    # after its worker died knows the call may have happened and never makes it again.
    CALLING = "calling"
    # What the gateway made of the request's credentials (the principal, never the
    # credential), and a route policy's refusal of it: 401 / 403 with a stable code.
    AUTHENTICATED = "authenticated"
    # Debug gates (gati/core/gates.py): a live request paused at a hook boundary, the
    # lctx edit a person made there, and how it went on (resume, step, abort, timeout).
    GATE_PAUSED = "gate_paused"
    GATE_EDITED = "gate_edited"
    GATE_RESUMED = "gate_resumed"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why the gateway answered by itself (the request is still recorded)."""

    status: int
    code: str
    message: str


Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The W3C Trace Context a request's work continues: the gateway span's.

    Written by the gateway's propagator (never parsed from a client by hand); the worker
    opens its request span as a child of it. Carried as the two header values, so any
    OpenTelemetry propagator reads it back.
    """

    traceparent: str
    tracestate: str = ""

    @property
    def trace_id(self) -> str | None:
        """The 32-hex trace id (what ``requests.trace_id`` holds), None if malformed."""
        parts = self.traceparent.split("-")
        if len(parts) < 4 or len(parts[1]) != 32:
            return None
        return parts[1]


@dataclass(frozen=True, slots=True)
class RequestEnvelope:
    request_id: str
    gateway_id: str
    reply_topic: str
    reply_partition: int
    received_at_us: int
    deadline_at_us: int
    method: str
    path: str
    query: str
    headers: Headers
    body: bytes
    client: str | None = None
    version_pref: str | None = None
    rejection: Rejection | None = None
    # Schema-store id of ``body`` when it is a typed JSON body the gateway encoded as
    # Avro (docs/events.md, "Typed bodies"); None: ``body`` is the client's bytes.
    body_schema: int | None = None
    # Epoch µs after which the gateway no longer waits for the log to acknowledge this
    # envelope (it answers 503 then); a worker refuses an envelope the broker appended
    # later, so a 503 means "will not run". None: from a gateway that predates it.
    accept_by_us: int | None = None
    # The principal the gateway established, or why it refused the credentials; None:
    # none presented. Replay reads it back from the ``authenticated`` step.
    auth: AuthOutcome | None = None
    # The gateway's span, for the worker's to continue (RequestEnvelope v5); None: not
    # traced (no exporter and no client context), or from a gateway that predates it.
    trace: TraceContext | None = None

    def header(self, name: str) -> str | None:
        """First value of a header (names are stored lower-cased)."""
        lname = name.lower()
        for key, value in self.headers:
            if key == lname:
                return value
        return None


@dataclass(frozen=True, slots=True)
class ResponseEnvelope:
    request_id: str
    status: int
    headers: Headers
    body: bytes
    completed_at_us: int
    handler_id: str | None = None


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    request_id: str
    seq: int
    stage: str
    at_us: int
    handler_id: str | None = None
    status: int | None = None
    error_code: str | None = None
    detail: str | None = None
    worker_id: str | None = None


@dataclass(slots=True)
class Trace:
    """Collects one request's lifecycle events with consecutive ``seq`` numbers.

    ``seq`` is assigned here, in the single place that processes the request, which is
    what makes (request_id, seq) a safe idempotency key for the recorder.
    """

    request_id: str
    worker_id: str | None = None
    events: list[LifecycleEvent] = field(default_factory=list)
    # A later attempt at a request (resumed after its worker died) numbers its steps
    # after the earlier attempt's, so every step ever recorded keeps its own seq.
    first_seq: int = 0

    def add(
        self,
        stage: Stage,
        at_us: int,
        *,
        handler_id: str | None = None,
        status: int | None = None,
        error_code: str | None = None,
        detail: str | None = None,
    ) -> LifecycleEvent:
        event = LifecycleEvent(
            request_id=self.request_id,
            seq=self.first_seq + len(self.events),
            stage=stage.value,
            at_us=at_us,
            handler_id=handler_id,
            status=status,
            error_code=error_code,
            detail=detail,
            worker_id=self.worker_id,
        )
        self.events.append(event)
        return event
