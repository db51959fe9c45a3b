"""Helpers of the cluster tests: waiting on conditions, resources, a stand-in kubelet."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from gati.k8s.render import API_VERSION
from gati.operator.kube import Kube

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


async def wait_until(check: Callable[[], Awaitable[T]], timeout_s: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting until {what} (last: {last!r})")


async def put_secrets(kube: Kube, ns: str, *, bootstrap: str = "localhost:9092",
                      url: str = "postgresql+asyncpg://gati:gati@127.0.0.1:5432/gati") -> None:
    for name, key, value in (("app-kafka", "bootstrap", bootstrap), ("app-db", "url", url)):
        await kube.apply({"apiVersion": "v1", "kind": "Secret",
                          "metadata": {"name": name, "namespace": ns},
                          "data": {key: base64.b64encode(value.encode()).decode()}})


def app_resource(ns: str, name: str = "shop", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "image": "registry.example.com/shop:1.0.0",
        "app": "shop.app:app",
        "kafka": {"bootstrapSecret": {"name": "app-kafka", "key": "bootstrap"}},
        "database": {"urlSecret": {"name": "app-db", "key": "url"}},
        "roles": {"gateway": {"replicas": 2}, "worker": {"replicas": 1},
                  "recorder": {"replicas": 1}},
    }
    body.update(spec)
    return {"apiVersion": API_VERSION, "kind": "GatiApp",
            "metadata": {"name": name, "namespace": ns}, "spec": body}


async def get_app(kube: Kube, ns: str, name: str = "shop") -> dict[str, Any]:
    got = await kube.get(API_VERSION, "GatiApp", ns, name)
    assert got is not None
    return got


def condition(resource: dict[str, Any], kind: str) -> dict[str, Any]:
    for c in (resource.get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return dict(c)
    return {}


async def finish_pod(kube: Kube, ns: str, job_name: str, *, exit_code: int = 0) -> None:
    """Stand in for a kubelet: the Job's pod ran ``gati migrate`` and exited ``exit_code``."""

    async def pod() -> Any:
        pods = await kube.list("v1", "Pod", ns, f"batch.kubernetes.io/job-name={job_name}")
        return pods[0] if pods else None

    p = await wait_until(pod, 90, f"the job controller created {job_name}'s pod")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    await kube.patch_status("v1", "Pod", ns, p["metadata"]["name"], {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}],
        "containerStatuses": [{
            "name": "migrate", "image": p["spec"]["containers"][0]["image"], "imageID": "",
            "ready": False, "restartCount": 0,
            "state": {"terminated": {"exitCode": exit_code,
                                     "reason": "Completed" if exit_code == 0 else "Error",
                                     "startedAt": now, "finishedAt": now}},
        }],
    })


async def ready_pods(kube: Kube, ns: str, selector: str) -> int:
    """Stand in for a kubelet: every pending pod the selector names runs and is ready."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    n = 0
    for p in await kube.list("v1", "Pod", ns, selector):
        if (p.get("status") or {}).get("phase") == "Running":
            continue
        await kube.patch_status("v1", "Pod", ns, p["metadata"]["name"], {
            "phase": "Running",
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                           for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
        })
        n += 1
    return n


class Operator:
    """``gati operator`` as its own process, as in production; killable, restartable."""

    def __init__(self, kubeconfig: str, ns: str, interval_s: float, log: Path) -> None:
        self.args = [str(Path(sys.executable).with_name("gati")), "--log-level", "info",
                     "operator", "-n", ns, "--interval", str(interval_s)]
        self.env = {**os.environ, "KUBECONFIG": kubeconfig}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=out, cwd=REPO)
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last status write, as a node loss would do."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


