"""The worker's half of W3C Trace Context: the request span continues the envelope's
context, module calls are spans under their caller, and the record is the same traced
or not (replay compares the record, so tracing must never change it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gati import App
from gati.core.context import ModuleEntry, Services
from gati.core.effects import CallPolicy
from gati.core.envelopes import RequestEnvelope, TraceContext
from gati.core.pipeline import Pipeline
from gati.observability import OtelTracer

MakeEnvelope = Callable[..., RequestEnvelope]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
GATEWAY_SPAN = "00f067aa0ba902b7"
SECRET = "s3cr3t-token-value"


class Vault:
    async def lookup(self, key: str) -> str:
        if key == "missing":
            raise KeyError(key)
        return key.upper()


def vault_app() -> App:
    app = App("vault")

    @app.before
    async def first(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        lctx.set("seen", await gctx.modules.vault.lookup("hook"))

    @app.get("/find/{key}", handler_id="vault.find")
    async def find(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        res.json({"value": await gctx.modules.vault.lookup(req.params["key"]),
                  "seen": lctx.get("seen")})

    return app


def pipeline(clock: Any, tracer: OtelTracer | None) -> Pipeline:
    services = Services(modules={"vault": ModuleEntry(Vault(), CallPolicy(journal=False))},
                        config={})
    return Pipeline(vault_app(), services, clock=clock, worker_id="wk-1", tracer=tracer)


def _hex(span: ReadableSpan) -> tuple[str, str, str | None]:
    parent = None if span.parent is None else format(span.parent.span_id, "016x")
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x"), parent


async def test_the_request_span_is_a_child_of_the_envelope_s_context(
    clock: Any, make_envelope: MakeEnvelope, tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    env = make_envelope(path="/find/alpha", trace=TraceContext(
        f"00-{TRACE_ID}-{GATEWAY_SPAN}-01", "gw=1"))
    out = await pipeline(clock, tracer).process(env)
    assert out.response.status == 200

    spans = {s.name: s for s in exporter.get_finished_spans()}
    request = spans["gati.request"]
    assert request.kind == SpanKind.CONSUMER
    assert _hex(request)[::2] == (TRACE_ID, GATEWAY_SPAN)
    assert request.context.trace_state.get("gw") == "1"
    handler = spans["handler vault.find"]
    hook = next(s for n, s in spans.items() if n.startswith("hook ") and n.endswith("first"))
    assert _hex(handler)[2] == _hex(request)[1] and _hex(hook)[2] == _hex(request)[1]
    # One module-call span under the hook that made it, one under the handler.
    calls = [s for s in exporter.get_finished_spans() if s.name == "module vault.lookup"]
    assert sorted(_hex(c)[2] or "" for c in calls) == sorted([_hex(hook)[1], _hex(handler)[1]])
    assert {_hex(s)[0] for s in spans.values()} == {TRACE_ID}


async def test_a_module_call_span_names_no_arguments_and_marks_a_failure(
    clock: Any, make_envelope: MakeEnvelope, tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    await pipeline(clock, tracer).process(make_envelope(path=f"/find/{SECRET}"))
    await pipeline(clock, tracer).process(make_envelope(path="/find/missing"))
    calls = [s for s in exporter.get_finished_spans() if s.name == "module vault.lookup"]
    assert len(calls) == 4
    for call in calls:
        assert dict(call.attributes or {}).keys() == {"gati.request_id", "gati.module",
                                                      "gati.method"}
        assert SECRET not in str(dict(call.attributes or {}))
    failed = [c for c in calls if c.status.status_code is StatusCode.ERROR]
    assert [e.attributes["exception.type"] for c in failed for e in c.events
            if e.attributes] == ["KeyError"]


async def test_the_record_is_the_same_traced_or_not(
    clock: Any, make_envelope: MakeEnvelope, tracer: OtelTracer
) -> None:
    env = make_envelope(path="/find/alpha", trace=TraceContext(
        f"00-{TRACE_ID}-{GATEWAY_SPAN}-01"))
    traced = await pipeline(clock, tracer).process(env)
    plain = await pipeline(clock, None).process(env)
    assert _steps(traced.events) == _steps(plain.events)
    assert traced.response == plain.response


def _steps(events: Any) -> list[tuple[Any, ...]]:
    """The record's steps, less the module calls' wall-clock durations."""
    out = []
    for e in events:
        detail = json.loads(e.detail) if e.detail else None
        if isinstance(detail, dict):
            detail.pop("duration_ms", None)
        out.append((e.seq, e.stage, e.at_us, e.status, e.error_code, detail))
    return out
