"""Metrics and traces of running systems, scraped and received as an operator would.

On both backends: the gateway's ``/metrics`` and the worker's ``GATI_METRICS_PORT``
show the request that was just made, and the worker's spans reach an OTLP/HTTP
receiver run by the test (``GATI_OTLP_ENDPOINT``).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver
from support import System, eventually, free_port, start_system

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as r:
        yield r


@pytest.fixture(scope="module")
def worker_metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    receiver: OtlpReceiver,
    worker_metrics_port: int,
) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(f"metrics-{request.param}")
    sys_ = start_system(
        request.param, tmp, request,
        GATI_METRICS_PORT=str(worker_metrics_port),
        GATI_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="200",  # export batches quickly, for the test's sake
    )
    yield sys_
    sys_.stop()


def samples(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def handled(found: dict[str, float], handler_suffix: str, status: str) -> float:
    return sum(
        v for k, v in found.items()
        if k.startswith("gati_requests_total{")
        and f'status="{status}"' in k and f'{handler_suffix}"' in k
    )


async def test_gateway_and_worker_metrics_show_the_request(system: System) -> None:
    async with system.client() as client:
        before = samples((await client.get("/metrics")).text)
        response = await client.get("/users?limit=5")
        assert response.status_code == 200, system.logs()
        assert (await client.get("/no-such-route")).status_code == 404

        gateway = samples((await client.get("/metrics")).text)
        key = 'gati_gateway_requests_total{status="200"}'
        assert gateway[key] == before.get(key, 0.0) + 1
        key = 'gati_gateway_requests_total{status="404"}'
        assert gateway[key] == before.get(key, 0.0) + 1
        assert gateway["gati_gateway_in_flight"] == 0.0
        assert "gati_gateway_request_seconds_count" in gateway

    # The worker's own endpoint (for dev, the same registry as the gateway's).
    port = int(system.env["GATI_METRICS_PORT"])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as scraper:

        found = samples((await scraper.get("/metrics")).text)
        assert handled(found, ".list_users", "200") >= 1
        assert found['gati_requests_total{handler="-",status="404"}'] >= 1  # routing misses
        assert any(
            k.startswith("gati_handler_seconds_count{") and ".list_users" in k for k in found
        )


async def test_worker_spans_reach_the_otlp_endpoint(
    system: System, receiver: OtlpReceiver
) -> None:
    async with system.client() as client:
        response = await client.get("/users?limit=3")
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]

    def mine() -> list[ReceivedSpan]:
        return [s for s in receiver.spans() if s.attributes.get("gati.request_id") == request_id]

    async def arrived() -> bool:
        names = {s.name for s in mine()}
        return "gati.request" in names and any(n.startswith("handler ") for n in names)

    await eventually(arrived, within=20, what=f"spans of {request_id}")
    assert receiver.rejected == []
    spans = mine()
    # The worker's spans, and on Kafka the gateway's own (in gati dev one process, one
    # service name); tests/integration/test_tracing_otlp.py checks how they link up.
    assert "gati-worker" in {s.service for s in spans}
    assert {s.service for s in spans} <= {"gati-worker", "gati-gateway"}
    names = {s.name for s in spans}
    assert any(n.startswith("hook ") and n.endswith("timing_start") for n in names), names
    [handler] = [s.attributes for s in spans if s.name.startswith("handler ")]
    assert handler["gati.handler_id"].endswith(".list_users")
    assert "gati.version" in handler
