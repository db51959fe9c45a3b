"""Metrics and traces of running systems, scraped and received as an operator would.

On both backends: the gateway's ``/metrics`` and the worker's ``GATI_METRICS_PORT``
show the request that was just made, and the worker's spans reach an OTLP/HTTP
receiver run by the test (``GATI_OTLP_ENDPOINT``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from support import System, eventually, free_port, start_system

pytestmark = pytest.mark.timeout(240)


class OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver: keeps (service name, span name, attributes)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, dict[str, Any]]] = []
        self.paths: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.paths.add(self.path)
                receiver.take(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self, request: ExportTraceServiceRequest) -> None:
        for rs in request.resource_spans:
            res = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attrs = {a.key: _value(a.value) for a in span.attributes}
                    self.spans.append((res.get("service.name", ""), span.name, attrs))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    yield r
    r.close()


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
        GATI_OTLP_ENDPOINT=receiver.url,
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

    def mine() -> list[tuple[str, str, dict[str, Any]]]:
        return [s for s in receiver.spans if s[2].get("gati.request_id") == request_id]

    async def arrived() -> bool:
        names = {name for _, name, _ in mine()}
        return "gati.request" in names and any(n.startswith("handler ") for n in names)

    await eventually(arrived, within=20, what=f"spans of {request_id}")
    assert receiver.paths == {"/v1/traces"}
    spans = mine()
    assert {service for service, _, _ in spans} == {"gati-worker"}
    names = {name for _, name, _ in spans}
    assert any(n.startswith("hook ") and n.endswith("authenticate") for n in names), names
    [handler] = [attrs for _, name, attrs in spans if name.startswith("handler ")]
    assert handler["gati.handler_id"].endswith(".list_users")
    assert "gati.version" in handler
