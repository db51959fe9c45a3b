"""``promtool check metrics`` (Prometheus' own linter) passes on gateway and worker.

Names, units, ``_total`` on counters, HELP and TYPE lines: what a Prometheus user's
dashboards and recording rules rely on. The scrape is of a real system on the real broker
after real traffic, so every metric family that traffic creates is in it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import KafkaSystem, free_port, start_system

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: run scripts/prometheus.sh install (scripts/test.sh "
                    "does)")
    return found


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSystem]:
    tmp: Path = tmp_path_factory.mktemp("promtool")
    s = start_system("kafka", tmp, request, GATI_METRICS_PORT=str(free_port()))
    assert isinstance(s, KafkaSystem)
    yield s
    s.stop()


def _lint(promtool: str, exposition: str) -> str:
    done = subprocess.run([promtool, "check", "metrics"], input=exposition, text=True,
                          capture_output=True, timeout=60)
    return f"exit {done.returncode}: {done.stdout}{done.stderr}".strip()


async def test_gateway_and_worker_metrics_pass_promtool(system: KafkaSystem,
                                                        promtool: str) -> None:
    async with system.client() as client:
        assert (await client.post("/users", json={"name": "Ada", "email": "a@x.org"})
                ).status_code == 201
        assert (await client.get("/users/999999")).status_code == 404
        assert (await client.get("/no-such-route")).status_code == 404
        gateway = (await client.get("/metrics")).text
    port = system.env["GATI_METRICS_PORT"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as scraper:
        worker = (await scraper.get("/metrics")).text
    assert "gati_gateway_requests_total" in gateway and "gati_requests_total" in worker
    assert {"gateway": _lint(promtool, gateway), "worker": _lint(promtool, worker)} == {
        "gateway": "exit 0:", "worker": "exit 0:"}
