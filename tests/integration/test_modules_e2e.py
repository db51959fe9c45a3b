"""The users example's Go and Node modules, end to end, on both backends.

Through ``gati dev`` and through Kafka and Postgres: handlers call both modules (one of
them reaching a directory service through the broker), every call is recorded as an
effect, and ``gati replay`` serves each request from the record with neither module
able to start (no node on PATH, and nothing started: the replayer never builds them).
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import signal
import subprocess
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import GATI, ROOT, System, eventually, free_port, start_system

from gati.store import open_store

pytestmark = pytest.mark.timeout(300)
APP = "examples.users.app:app"


class _Directory(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"badge": "gold", "asked": self.path}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def directory() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Directory)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           directory: str) -> Iterator[System]:
    subprocess.run([str(ROOT / "scripts/sandbox.sh")], check=True, timeout=300)
    subprocess.run([str(ROOT / "scripts/modules.sh")], check=True, timeout=300)
    tmp = tmp_path_factory.mktemp(f"modules-{request.param}")
    s = start_system(request.param, tmp, request, app=APP, USERS_MODULES="1",
                     USERS_DIRECTORY=directory, GATI_METRICS_PORT=str(free_port()))
    yield s
    s.stop(replay=False)  # replayed below, in a process where the modules are registered


async def _effects(url: str, request_id: str) -> list[dict[str, object]]:
    store = await open_store(url)
    try:
        async def recorded() -> list[dict[str, object]] | None:
            events = await store.lifecycle(request_id)
            if not events or events[-1].stage != "responded":
                return None
            return [json.loads(e.detail) for e in events if e.stage == "effect" and e.detail]

        return await eventually(recorded, within=30, what=f"{request_id} recorded")
    finally:
        await store.close()


def _replay(system: System, request_id: str) -> dict[str, object]:
    env = {**system.env, "USERS_MODULES": "1", "PATH": "/nonexistent"}
    out = subprocess.run([GATI, "replay", request_id, "--app", APP, "--json"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


async def test_handlers_call_both_modules_and_replay_without_them(
        system: System, directory: str) -> None:
    async with system.client() as client:
        made = await client.post("/users", json={"name": "Grace Hopper",
                                                 "email": "grace@example.com"})
        assert made.status_code == 201, made.text
        uid = made.json()["id"]
        password = await client.post(f"/users/{uid}/password",
                                     json={"password": "a long passphrase"})
        avatar = await client.get(f"/users/{uid}/avatar?size=48")
        badge = await client.get(f"/users/{uid}/badge")
    assert password.status_code == 200, password.text
    assert password.json() == {"id": uid, "scheme": "pbkdf2-sha256", "verified": True}
    assert avatar.status_code == 200 and avatar.headers["content-type"] == "image/svg+xml"
    assert ">GH</text>" in avatar.text and 'width="48"' in avatar.text
    assert badge.status_code == 200, badge.text
    assert badge.json() == {"badge": "gold", "asked": "/badge?email=grace%40example.com"}

    calls = {}
    for response in (password, avatar, badge):
        rid = response.headers["x-request-id"]
        effects = await _effects(system.database_url, rid)
        calls[rid] = [(e["module"], e["method"]) for e in effects if e.get("kind") == "module"]
    assert list(calls.values()) == [
        [("db", "get_user"), ("ids", "hash_password"), ("ids", "verify_password")],
        [("db", "get_user"), ("avatar", "avatar")],
        [("db", "get_user"), ("avatar", "badge")]]
    for rid in calls:
        result = _replay(system, rid)
        assert result["identical"] is True, result


def _module_pids(system: System, binary: str) -> list[int]:
    """Processes running ``binary`` (by /proc's exe) under this system's processes."""
    ours = {p.popen.pid for p in system.procs.values() if p.popen is not None}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not os.readlink(entry / "exe").endswith(binary):
                continue
        except OSError:
            continue
        pid = int(entry.name)
        while pid > 1 and pid not in ours:
            try:
                stat = (Path("/proc") / str(pid) / "stat").read_text()
            except OSError:
                break
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid in ours:
            found.append(int(entry.name))
    return found


async def _load(client: httpx.AsyncClient, uid: int, stop: asyncio.Event, path: str,
                seen: list[tuple[int, str]]) -> None:
    """Requests to ``path`` until ``stop``, each answer into ``seen``: (status, code)."""
    while not stop.is_set():
        if path == "password":
            r = await client.post(f"/users/{uid}/password", json={"password": "long enough"})
        else:
            r = await client.get(f"/users/{uid}/avatar")
        code = "" if r.status_code == 200 else r.json()["error"]["code"]
        seen.append((r.status_code, code))


async def _user(client: httpx.AsyncClient) -> int:
    made = await client.post("/users", json={"name": "Ada Lovelace",
                                             "email": f"ada-{uuid.uuid4().hex[:8]}@example.com"})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def test_kill_9_of_the_go_module_under_load_fails_typed_and_it_comes_back(
        system: System) -> None:
    async with system.client() as client:
        uid = await _user(client)
        (before,) = _module_pids(system, "/idsvc")
        stop = asyncio.Event()
        results: list[tuple[int, str]] = []
        avatar_results: list[tuple[int, str]] = []
        load = [asyncio.ensure_future(_load(client, uid, stop, "password", results))
                for _ in range(4)]
        load.append(asyncio.ensure_future(_load(client, uid, stop, "avatar", avatar_results)))

        async def loaded() -> bool:
            return len(results) > 10

        await eventually(loaded, within=30, what="load on the Go module")
        os.kill(before, signal.SIGKILL)

        async def back() -> bool:
            pids = _module_pids(system, "/idsvc")
            return bool(pids) and pids != [before]

        await eventually(back, within=15, what="a new Go module process")
        after = await client.post(f"/users/{uid}/password", json={"password": "long enough"})
        stop.set()
        await asyncio.gather(*load)
    assert after.status_code == 200, after.text
    assert {code for _, code in results} <= {"", "module_crashed"}, Counter(results)
    assert all(status == 200 for status, _ in avatar_results), Counter(avatar_results)


async def test_reload_under_load_fails_no_request(system: System) -> None:
    async with system.client() as client:
        uid = await _user(client)
        (before,) = _module_pids(system, "/idsvc")
        stop = asyncio.Event()
        results: list[tuple[int, str]] = []
        load = [asyncio.ensure_future(_load(client, uid, stop, "password", results))
                for _ in range(4)]
        env = {**system.env, "USERS_MODULES": "1"}
        out = await asyncio.to_thread(subprocess.run, [
            GATI, "modules", "reload", "ids", "--app", APP], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr

        async def reloaded() -> bool:
            return _module_pids(system, "/idsvc") not in ([], [before])

        await eventually(reloaded, within=20, what="the Go module's new process")
        after = await client.post(f"/users/{uid}/password", json={"password": "long enough"})
        stop.set()
        await asyncio.gather(*load)
    assert after.status_code == 200
    assert len(results) > 4 and all(s == 200 for s, _ in results), Counter(results)


async def test_the_worker_metrics_count_each_module_s_calls(system: System) -> None:
    async with system.client() as client:
        uid = await _user(client)
        assert (await client.get(f"/users/{uid}/avatar")).status_code == 200
    port = int(system.env["GATI_METRICS_PORT"])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as scraper:
        text = (await scraper.get("/metrics")).text
    counts = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if line.startswith("gati_module_calls_total{")}
    assert counts['gati_module_calls_total{module="avatar"}'] >= 1, text[:2000]
    assert counts['gati_module_calls_total{module="ids"}'] >= 1


def _process_of_worker(system: System) -> int:
    """The process running the app's modules: ``gati worker``, or ``gati dev``."""
    proc = system.procs["worker" if "worker" in system.procs else "dev"]
    assert proc.popen is not None
    return proc.popen.pid


async def test_sighup_to_the_worker_reloads_both_modules_under_load(system: System) -> None:
    async with system.client() as client:
        uid = await _user(client)
        (go_before,) = _module_pids(system, "/idsvc")
        (node_before,) = _module_pids(system, "/node")
        stop = asyncio.Event()
        results: list[tuple[int, str]] = []
        load = [asyncio.ensure_future(_load(client, uid, stop, path, results))
                for path in ("password", "password", "avatar", "avatar")]

        async def loaded() -> bool:
            return len(results) > 10

        await eventually(loaded, within=30, what="load on both modules")
        os.kill(_process_of_worker(system), signal.SIGHUP)

        async def reloaded() -> bool:
            go, node = _module_pids(system, "/idsvc"), _module_pids(system, "/node")
            return go not in ([], [go_before]) and node not in ([], [node_before])

        await eventually(reloaded, within=30, what="new Go and Node module processes")
        served_before = len(results)

        async def served_after() -> bool:
            return len(results) > served_before + 10

        await eventually(served_after, within=30, what="requests served by the new processes")
        stop.set()
        await asyncio.gather(*load)
    assert all(s == 200 for s, _ in results), Counter(results)
    log = system.procs["worker" if "worker" in system.procs else "dev"].log_path.read_text()
    assert "module ids reloaded" in log and "module avatar reloaded" in log, log[-2000:]


async def test_kill_9_of_the_node_module_under_load_fails_typed_and_it_comes_back(
        system: System) -> None:
    async with system.client() as client:
        uid = await _user(client)
        (before,) = _module_pids(system, "/node")
        stop = asyncio.Event()
        results: list[tuple[int, str]] = []
        go_results: list[tuple[int, str]] = []
        load = [asyncio.ensure_future(_load(client, uid, stop, "avatar", results))
                for _ in range(4)]
        load.append(asyncio.ensure_future(_load(client, uid, stop, "password", go_results)))

        async def loaded() -> bool:
            return len(results) > 10

        await eventually(loaded, within=30, what="load on the Node module")
        os.kill(before, signal.SIGKILL)

        async def back() -> bool:
            pids = _module_pids(system, "/node")
            return bool(pids) and pids != [before]

        await eventually(back, within=15, what="a new Node module process")
        after = await client.get(f"/users/{uid}/avatar")
        stop.set()
        await asyncio.gather(*load)
    assert after.status_code == 200, after.text
    assert {code for _, code in results} <= {"", "module_crashed"}, Counter(results)
    assert all(status == 200 for status, _ in go_results), Counter(go_results)
