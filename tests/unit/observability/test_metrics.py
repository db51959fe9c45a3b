"""PrometheusMetrics: the Metrics port on a registry, and the pipeline's counts through it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gati import App
from gati.core.context import Services
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Pipeline
from gati.errors import AppError, ConfigError
from gati.observability import MetricsError, PrometheusMetrics

MakeEnvelope = Callable[..., RequestEnvelope]


def exposition(registry: CollectorRegistry) -> list[str]:
    return generate_latest(registry).decode().splitlines()


def shop() -> App:
    app = App("shop")

    @app.before
    async def authenticate(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        return None

    @app.get("/ok", handler_id="shop.ok")
    async def ok(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        gctx.metrics.counter("shop_orders_total", "Orders", ("kind",)).inc(kind="book")
        res.json({"ok": True})

    @app.get("/boom", handler_id="shop.boom")
    async def boom(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        raise RuntimeError("kaput")

    return app


async def test_the_pipeline_counts_requests_by_handler_and_status(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    registry = CollectorRegistry()
    services = Services(modules={}, config={}, metrics=PrometheusMetrics(registry))
    pipeline = Pipeline(shop(), services, clock=clock, worker_id="wk-1")
    paths = ["/ok"] * 3 + ["/boom"] * 2 + ["/nope"]
    for path in paths:
        await pipeline.process(make_envelope(path=path))

    lines = exposition(registry)
    assert 'gati_requests_total{handler="shop.ok",status="200"} 3.0' in lines
    assert 'gati_requests_total{handler="shop.boom",status="500"} 2.0' in lines
    assert 'gati_requests_total{handler="-",status="404"} 1.0' in lines
    assert 'gati_handler_seconds_count{handler="shop.ok"} 3.0' in lines
    assert 'gati_handler_seconds_count{handler="shop.boom"} 2.0' in lines
    # gctx.metrics is the same registry: the handler's own counter is exported too.
    assert 'shop_orders_total{kind="book"} 3.0' in lines


def test_an_instrument_is_created_once_by_name() -> None:
    metrics = PrometheusMetrics()
    first = metrics.counter("jobs_total", "Jobs", ("queue",))
    again = metrics.counter("jobs_total", "another help text is fine", ("queue",))
    assert again is first
    first.inc(queue="a")
    again.inc(2, queue="a")
    assert 'jobs_total{queue="a"} 3.0' in exposition(metrics.registry)


def test_gauges_and_histograms_without_labels() -> None:
    metrics = PrometheusMetrics()
    gauge = metrics.gauge("queue_depth", "Depth")
    gauge.set(5)
    gauge.inc()
    gauge.dec(3)
    hist = metrics.histogram("op_seconds", "Op", buckets=(0.1, 1.0))
    hist.observe(0.5)
    hist.observe(2.0)
    lines = exposition(metrics.registry)
    assert "queue_depth 3.0" in lines
    assert 'op_seconds_bucket{le="0.1"} 0.0' in lines
    assert 'op_seconds_bucket{le="1.0"} 1.0' in lines
    assert 'op_seconds_bucket{le="+Inf"} 2.0' in lines
    assert "op_seconds_count 2.0" in lines


@pytest.mark.parametrize(
    ("redeclare", "says"),
    [
        (
            lambda m: m.counter("x_total", labels=("b",)),
            r"a counter with labels \(a\); it cannot also be a counter with labels \(b\)",
        ),
        (lambda m: m.gauge("x_total", labels=("a",)), "cannot also be a gauge"),
        (lambda m: m.histogram("x_total", labels=("a",)), "cannot also be a histogram"),
    ],
)
def test_redeclaring_a_name_another_way_is_a_clear_error(
    redeclare: Callable[[PrometheusMetrics], Any], says: str
) -> None:
    metrics = PrometheusMetrics()
    metrics.counter("x_total", "X", ("a",))
    with pytest.raises(MetricsError, match=says) as caught:
        redeclare(metrics)
    assert "'x_total'" in caught.value.message
    assert caught.value.code == "metric_conflict"
    assert isinstance(caught.value, AppError)


def test_histogram_buckets_are_part_of_the_declaration() -> None:
    metrics = PrometheusMetrics()
    metrics.histogram("h_seconds", buckets=(1.0, 2.0))
    assert metrics.histogram("h_seconds", buckets=(1, 2)) is not None
    with pytest.raises(MetricsError, match="buckets"):
        metrics.histogram("h_seconds")


def test_a_name_that_clashes_with_another_metrics_series_is_a_metrics_error() -> None:
    metrics = PrometheusMetrics()
    metrics.counter("orders", "Orders")  # exports orders_total
    with pytest.raises(MetricsError, match="orders_total"):
        metrics.gauge("orders_total", "Not a counter")


def test_using_the_wrong_labels_names_the_expected_ones() -> None:
    counter = PrometheusMetrics().counter("calls_total", "Calls", ("module", "method"))
    with pytest.raises(MetricsError, match=r"takes labels \(module, method\), got \(module\)"):
        counter.inc(module="db")


def test_registries_are_independent() -> None:
    one, two = PrometheusMetrics(), PrometheusMetrics()
    one.counter("only_here_total").inc()
    two.counter("only_here_total", labels=("x",))  # no clash: another registry
    assert not any(line.startswith("only_here_total") for line in exposition(two.registry))


def test_exposition_negotiates_openmetrics() -> None:
    metrics = PrometheusMetrics()
    metrics.counter("n_total").inc()
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    assert b"n_total 1.0" in body
    body, content_type = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_serve_exposes_the_registry_over_http() -> None:
    metrics = PrometheusMetrics()
    metrics.counter("served_total").inc(4)
    server = metrics.serve(0, addr="127.0.0.1")
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
        assert response.status_code == 200
        assert "served_total 4.0" in response.text.splitlines()
        with pytest.raises(ConfigError, match=f"GATI_METRICS_PORT \\({server.port}\\)"):
            PrometheusMetrics().serve(server.port, addr="127.0.0.1")
    finally:
        server.close()
