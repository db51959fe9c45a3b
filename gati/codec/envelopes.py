"""Typed encode/decode of Gati's envelopes on top of ``AvroCodec``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gati.codec.avro import AvroCodec, default_registry
from gati.core.envelopes import (
    Headers,
    LifecycleEvent,
    Rejection,
    RequestEnvelope,
    ResponseEnvelope,
    TraceContext,
)
from gati.errors import CodecError
from gati.policy import AuthOutcome, Principal

REQUEST = "gati.RequestEnvelope"
RESPONSE = "gati.ResponseEnvelope"
LIFECYCLE = "gati.LifecycleEvent"
LIFECYCLE_BATCH = "gati.LifecycleBatch"


def _headers_out(headers: Headers) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in headers]


def _headers_in(items: list[dict[str, str]]) -> Headers:
    return tuple((h["name"], h["value"]) for h in items)


class EnvelopeCodec:
    def __init__(self, codec: AvroCodec | None = None) -> None:
        self.codec = codec or AvroCodec(default_registry())
        reg = self.codec.registry
        self.request_ids = reg.ids_for(REQUEST)
        self.response_ids = reg.ids_for(RESPONSE)
        self.lifecycle_ids = reg.ids_for(LIFECYCLE)
        self.batch_ids = reg.ids_for(LIFECYCLE_BATCH)

    def encode_request(self, env: RequestEnvelope) -> bytes:
        rej = env.rejection
        return self.codec.encode(
            REQUEST,
            {
                "request_id": env.request_id,
                "gateway_id": env.gateway_id,
                "reply_topic": env.reply_topic,
                "reply_partition": env.reply_partition,
                "received_at_us": env.received_at_us,
                "deadline_at_us": env.deadline_at_us,
                "method": env.method,
                "path": env.path,
                "query": env.query,
                "headers": _headers_out(env.headers),
                "body": env.body,
                "client": env.client,
                "version_pref": env.version_pref,
                "rejection": None
                if rej is None
                else {"status": rej.status, "code": rej.code, "message": rej.message},
                "body_schema": env.body_schema,
                "accept_by_us": env.accept_by_us,
                "auth": _auth_out(env.auth),
                "trace": None if env.trace is None else {
                    "traceparent": env.trace.traceparent, "tracestate": env.trace.tracestate},
            },
        )

    def decode_request(self, data: bytes) -> RequestEnvelope:
        _, r = self.codec.decode(data, self.request_ids)
        rej = r.get("rejection")
        return RequestEnvelope(
            request_id=r["request_id"],
            gateway_id=r["gateway_id"],
            reply_topic=r["reply_topic"],
            reply_partition=r["reply_partition"],
            received_at_us=r["received_at_us"],
            deadline_at_us=r["deadline_at_us"],
            method=r["method"],
            path=r["path"],
            query=r["query"],
            headers=_headers_in(r["headers"]),
            body=r["body"],
            client=r.get("client"),
            version_pref=r.get("version_pref"),
            rejection=None
            if rej is None
            else Rejection(rej["status"], rej["code"], rej["message"]),
            body_schema=r.get("body_schema"),
            # Null from ids 1 and 7: gateways that predate it set no give-up time.
            accept_by_us=r.get("accept_by_us"),
            # Null from ids 1, 7 and 8: gateways that predate it authenticated nobody.
            auth=_auth_in(r.get("auth")),
            # Null from ids 1 and 7-9: gateways that predate it carried no trace context.
            trace=_trace_in(r.get("trace")),
        )

    def encode_response(self, env: ResponseEnvelope) -> bytes:
        return self.codec.encode(
            RESPONSE,
            {
                "request_id": env.request_id,
                "status": env.status,
                "headers": _headers_out(env.headers),
                "body": env.body,
                "handler_id": env.handler_id,
                "completed_at_us": env.completed_at_us,
            },
        )

    def decode_response(self, data: bytes) -> ResponseEnvelope:
        _, r = self.codec.decode(data, self.response_ids)
        return ResponseEnvelope(
            request_id=r["request_id"],
            status=r["status"],
            headers=_headers_in(r["headers"]),
            body=r["body"],
            completed_at_us=r["completed_at_us"],
            handler_id=r.get("handler_id"),
        )

    def encode_event(self, ev: LifecycleEvent) -> bytes:
        return self.codec.encode(LIFECYCLE, _event_record(ev))

    def decode_event(self, data: bytes) -> LifecycleEvent:
        _, r = self.codec.decode(data, self.lifecycle_ids)
        return _event(r)

    def encode_batch(self, request_id: str, events: Sequence[LifecycleEvent]) -> bytes:
        return self.codec.encode(LIFECYCLE_BATCH, {
            "request_id": request_id,
            "events": [_event_record(ev) for ev in events],
        })

    def decode_any(self, data: bytes) -> RequestEnvelope | list[LifecycleEvent]:
        """For the recorder: a message from gati.requests or gati.lifecycle.

        Lifecycle steps arrive one per message or, from current workers, as one batch
        per request; both come back as a list.
        """
        if len(data) >= 5:
            schema_id = int.from_bytes(data[1:5], "big")
            if schema_id in self.request_ids:
                return self.decode_request(data)
            if schema_id in self.lifecycle_ids:
                return [self.decode_event(data)]
            if schema_id in self.batch_ids:
                _, r = self.codec.decode(data, self.batch_ids)
                return [_event(e) for e in r["events"]]
        raise CodecError("not a RequestEnvelope, LifecycleEvent or LifecycleBatch message")


def _auth_out(auth: AuthOutcome | None) -> dict[str, Any] | None:
    if auth is None:
        return None
    p = auth.principal
    return {"principal": None if p is None else {
        "subject": p.subject, "method": p.method, "roles": list(p.roles),
        "scopes": list(p.scopes), "tenant": p.tenant},
        "error": auth.error, "message": auth.message}


def _auth_in(r: dict[str, Any] | None) -> AuthOutcome | None:
    if r is None:
        return None
    p = r.get("principal")
    return AuthOutcome(None if p is None else Principal(
        p["subject"], p["method"], tuple(p["roles"]), tuple(p["scopes"]), p.get("tenant")),
        r.get("error"), r.get("message"))


def _trace_in(r: dict[str, Any] | None) -> TraceContext | None:
    return None if r is None else TraceContext(r["traceparent"], r.get("tracestate") or "")


def _event_record(ev: LifecycleEvent) -> dict[str, Any]:
    return {
        "request_id": ev.request_id, "seq": ev.seq, "stage": ev.stage, "at_us": ev.at_us,
        "handler_id": ev.handler_id, "status": ev.status, "error_code": ev.error_code,
        "detail": ev.detail, "worker_id": ev.worker_id,
    }


def _event(r: dict[str, Any]) -> LifecycleEvent:
    """Positional on purpose: the recorder builds one per lifecycle step it drains."""
    get = r.get
    return LifecycleEvent(r["request_id"], r["seq"], r["stage"], r["at_us"], get("handler_id"),
                          get("status"), get("error_code"), get("detail"), get("worker_id"))


DEADLETTER = "gati.DeadLetter"
EVENT = "gati.Event"


def encode_event_message(
    codec: AvroCodec, *, event_id: str, topic: str, request_id: str, at_us: int, payload: str
) -> bytes:
    return codec.encode(EVENT, {"event_id": event_id, "topic": topic, "request_id": request_id,
                                "at_us": at_us, "payload": payload})


def decode_event_message(codec: AvroCodec, data: bytes) -> dict[str, Any]:
    _, record = codec.decode(data, codec.registry.ids_for(EVENT))
    return record


def encode_dead_letter(
    codec: AvroCodec,
    *,
    topic: str,
    partition: int,
    offset: int,
    consumer: str,
    reason: str,
    at_us: int,
    key: bytes | None,
    value: bytes,
) -> bytes:
    return codec.encode(
        DEADLETTER,
        {
            "source_topic": topic,
            "source_partition": partition,
            "source_offset": offset,
            "consumer": consumer,
            "reason": reason[:2000],
            "at_us": at_us,
            "key": key,
            "value": value,
        },
    )
