"""OtelTracer: the pipeline's spans, their nesting, attributes and error status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from gati import App
from gati.core.context import Services
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Pipeline
from gati.observability import OtelTracer, configure_tracing, otlp_traces_url

MakeEnvelope = Callable[..., RequestEnvelope]


def shop() -> App:
    app = App("shop")

    @app.before
    async def authenticate(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        lctx.set("user", "ada")

    @app.get("/ok", handler_id="shop.ok")
    async def ok(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        res.json({"user": lctx.get("user")})

    @app.get("/boom", handler_id="shop.boom")
    async def boom(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        raise RuntimeError("kaput")

    @app.get("/sync", handler_id="shop.sync")
    def in_a_thread(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        res.text("ran in a worker thread")

    return app


def pipeline(app: App, clock: Any, tracer: OtelTracer) -> Pipeline:
    return Pipeline(app, Services(modules={}, config={}), clock=clock, worker_id="wk-1",
                    tracer=tracer)


def by_request(spans: tuple[ReadableSpan, ...], request_id: str) -> dict[str, ReadableSpan]:
    mine = [s for s in spans if (s.attributes or {}).get("gati.request_id") == request_id]
    named = {s.name: s for s in mine}
    assert len(named) == len(mine), f"span names repeat: {[s.name for s in mine]}"
    return named


def hook_span(spans: dict[str, ReadableSpan]) -> ReadableSpan:
    hooks = [s for name, s in spans.items() if name.startswith("hook ")]
    assert len(hooks) == 1, list(spans)
    return hooks[0]


def child_of(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.parent is not None, f"{child.name} has no parent"
    return (child.parent.span_id == parent.context.span_id
            and child.context.trace_id == parent.context.trace_id)


async def test_request_hook_and_handler_spans_are_nested_with_gati_attributes(
    clock: Any, make_envelope: MakeEnvelope, tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    env = make_envelope(path="/ok")
    out = await pipeline(shop(), clock, tracer).process(env)
    assert out.response.status == 200

    spans = by_request(exporter.get_finished_spans(), env.request_id)
    request = spans["gati.request"]
    handler = spans["handler shop.ok"]
    hook = hook_span(spans)

    assert request.parent is None
    assert child_of(hook, request)
    assert child_of(handler, request)
    assert hook.name.endswith("authenticate")
    assert (hook.attributes or {})["gati.hook_kind"] == "before"
    assert handler.attributes is not None
    assert handler.attributes["gati.handler_id"] == "shop.ok"
    assert isinstance(handler.attributes["gati.version"], str)
    assert request.attributes is not None
    assert request.attributes["gati.handler_id"] == "shop.ok"
    assert request.attributes["http.status_code"] == 200
    assert request.attributes["http.method"] == "GET"
    assert {s.status.status_code for s in spans.values()} == {StatusCode.UNSET}


async def test_a_failing_handler_marks_its_span_as_error_with_the_exception(
    clock: Any, make_envelope: MakeEnvelope, tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    env = make_envelope(path="/boom")
    out = await pipeline(shop(), clock, tracer).process(env)
    assert out.response.status == 500

    spans = by_request(exporter.get_finished_spans(), env.request_id)
    handler = spans["handler shop.boom"]
    assert child_of(handler, spans["gati.request"])
    assert handler.status.status_code is StatusCode.ERROR
    assert handler.status.description == "RuntimeError"
    [event] = [e for e in handler.events if e.name == "exception"]
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "RuntimeError"
    assert event.attributes["exception.message"] == "kaput"
    # The hook succeeded and the request span carries the answer, not the error.
    assert hook_span(spans).status.status_code is StatusCode.UNSET
    assert (spans["gati.request"].attributes or {})["http.status_code"] == 500


async def test_concurrent_requests_and_sync_handlers_keep_their_own_parents(
    clock: Any, make_envelope: MakeEnvelope, tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    envs = [make_envelope(path=p) for p in ("/ok", "/sync", "/boom", "/sync", "/ok")]
    p = pipeline(shop(), clock, tracer)
    await asyncio.gather(*(p.process(env) for env in envs))

    finished = exporter.get_finished_spans()
    assert len({s.context.trace_id for s in finished}) == len(envs)
    for env in envs:
        spans = by_request(finished, env.request_id)
        request = spans.pop("gati.request")
        assert len(spans) == 2, list(spans)  # one hook, one handler
        assert all(child_of(s, request) for s in spans.values())


async def test_without_an_endpoint_the_tracer_exports_nothing_and_still_works(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    tracer = configure_tracing("gati-worker", "")
    assert not tracer.exporting
    out = await pipeline(shop(), clock, tracer).process(make_envelope(path="/boom"))
    assert out.response.status == 500
    tracer.shutdown()


def test_with_an_endpoint_spans_are_exported_under_the_service_name() -> None:
    tracer = configure_tracing("gati-worker", "http://127.0.0.1:4318")
    try:
        assert tracer.exporting
        assert isinstance(tracer.provider, TracerProvider)
        assert tracer.provider.resource.attributes[SERVICE_NAME] == "gati-worker"
    finally:
        tracer.shutdown()


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example/v1/traces", "https://otel.example/v1/traces"),
    ],
)
def test_the_endpoint_is_a_base_url_or_the_full_traces_url(given: str, url: str) -> None:
    assert otlp_traces_url(given) == url


async def test_a_secret_in_an_exception_never_reaches_an_exported_span(
    tracer: OtelTracer, exporter: InMemorySpanExporter, clock: Any, make_envelope: Any
) -> None:
    from gati.core.context import Secrets, Services
    from gati.modules.secrets import EnvSecrets

    app = App("leaky")

    @app.get("/leak")
    async def leak(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        token = gctx.secrets.get("TOKEN").reveal()
        raise RuntimeError(f"upstream refused {token}")

    services = Services(modules={}, config={})
    services.secrets = Secrets([EnvSecrets({"TOKEN": "tok-0123456789"})], services.redactor)
    outcome = await Pipeline(app, services, clock=clock, tracer=tracer).process(
        make_envelope(path="/leak"))
    assert outcome.response.status == 500
    exported = repr([(s.name, s.status.description, [(e.name, dict(e.attributes or {}))
                      for e in s.events], dict(s.attributes or {}))
                     for s in exporter.get_finished_spans()])
    assert "tok-0123456789" not in exported
    assert "upstream refused [REDACTED]" in exported
