"""The real control plane for the operator's tests: kube-apiserver, etcd, controllers.

``scripts/kube.sh start`` (called by scripts/services.sh, so by scripts/test.sh and CI)
builds and starts them on loopback. With GATI_REQUIRE_SERVICES=1 (always in CI) an API
server that is not up fails the run; otherwise these tests are skipped with the command
that starts it. No kubelet or scheduler runs: where a test needs a pod to have run or
to be ready, it patches the pod's status itself (``finish_pod`` / ``ready_pods``) and
says so.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from gati.k8s.crd import PLURAL, crd
from gati.k8s.render import GROUP
from gati.operator.kube import Kube
from tests.k8s.kube_support import Operator, wait_until

REQUIRED = os.environ.get("GATI_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"
KUBECONFIG = os.environ.get(
    "GATI_KUBECONFIG", str(Path.home() / ".cache/gati/kube-run/kubeconfig"))


def _api_up() -> str | None:
    """None when the API server answers /readyz, else why not."""
    if not Path(KUBECONFIG).exists():
        return f"no kubeconfig at {KUBECONFIG}"

    async def probe() -> None:
        kube = await Kube.connect(KUBECONFIG)
        try:
            await kube.api.call_api("/readyz", "GET", auth_settings=["BearerToken"],
                                    _return_http_data_only=True, _request_timeout=5)
        finally:
            await kube.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"kube-apiserver does not answer ({type(exc).__name__}: {exc})"
    return None


@pytest.fixture(scope="session")
def kube_cluster() -> str:
    """The kubeconfig of a running cluster with the GatiApp CRD established."""
    why = _api_up()
    if why is not None:
        message = f"{why}; start it with scripts/kube.sh start"
        if REQUIRED:
            pytest.fail(message + " (GATI_REQUIRE_SERVICES=1: services are required)",
                        pytrace=False)
        pytest.skip(message)

    async def install() -> None:
        kube = await Kube.connect(KUBECONFIG)
        try:
            await kube.apply(crd())
            await wait_until(lambda: _established(kube), 90, "the GatiApp CRD is established")
        finally:
            await kube.close()

    asyncio.run(install())
    return KUBECONFIG


async def _established(kube: Kube) -> bool:
    got = await kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None,
                         f"{PLURAL}.{GROUP}")
    conds = ((got or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conds)


@pytest.fixture
async def kube(kube_cluster: str) -> AsyncIterator[Kube]:
    client = await Kube.connect(kube_cluster)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def namespace(kube: Kube) -> AsyncIterator[str]:
    """A fresh namespace per test; deleted afterwards (the namespace controller empties it)."""
    name = f"gati-t-{uuid.uuid4().hex[:10]}"
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        await kube.delete("v1", "Namespace", None, name)


@pytest.fixture
def operator(
    kube_cluster: str, namespace: str, tmp_path: Path
) -> Iterator[Callable[..., Operator]]:
    started: list[Operator] = []

    def start(interval_s: float = 1.0) -> Operator:
        op = Operator(kube_cluster, namespace, interval_s, tmp_path / "operator.log").start()
        started.append(op)
        return op

    yield start
    for op in started:
        op.stop()
    log = tmp_path / "operator.log"
    if log.exists():
        print(log.read_text()[-4000:])
