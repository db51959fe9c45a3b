"""Calls to an out-of-process module: timeouts that cancel, arguments by name, reload.

The timeout test goes through the real pipeline, so it is the module policy a handler
gets (``ModuleTimeout``, 504) that cuts the call, and the module is told to stop.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest
from modules_helpers import Started, ids_spec, misbehaving_spec
from support import eventually

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.core.context import ModuleEntry, Services
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Pipeline
from gati.core.ports import SystemClock
from gati.modules import ProcessModule, process_module
from gati.modules.spec import Limits


async def test_a_call_over_its_timeout_answers_504_and_the_module_is_told_to_cancel(
        tmp_path: Path, started: Started) -> None:
    spec = misbehaving_spec(tmp_path, limits=Limits(timeout_s=0.3))
    app = App("slow")
    process_module(app, spec)

    @app.get("/slow", handler_id="slow.get")
    async def slow(req: Request, res: Response, lctx: LocalContext,
                   gctx: GlobalContext) -> None:
        res.json(await gctx.modules.misbehaving.sleep(30))

    module: ProcessModule = await started(spec)
    services = Services(modules={"misbehaving": ModuleEntry(module, app.modules[
        "misbehaving"].policy)}, config={})
    now = SystemClock().now_us()
    env = RequestEnvelope("req-slow", "g", "t", 0, now, now + 10_000_000, "GET", "/slow",
                          "", (), b"")
    outcome = await Pipeline(app, services, clock=SystemClock()).process(env)
    assert outcome.response.status == 504
    assert json.loads(outcome.response.body)["error"]["code"] == "module_timeout"

    async def told() -> bool:
        return bool(await module.cancelled() == 1)

    await eventually(told, within=10, what="the module to receive gati.cancel")
    assert module.stats.restarts == 0  # a timeout is not a crash


async def test_arguments_bind_by_the_declared_names(started: Started) -> None:
    ids = await started(ids_spec())
    by_position = await ids.hash_password("pw", "salt")
    assert await ids.hash_password(salt="salt", password="pw") == by_position
    assert await ids.verify_password("pw", by_position) is True
    assert await ids.verify_password("wrong", by_position) is False
    with pytest.raises(TypeError, match="takes 2 arguments"):
        await ids.hash_password("a", "b", "c")
    with pytest.raises(TypeError, match="unexpected or repeated argument 'pepper'"):
        await ids.hash_password("a", pepper="b")
    with pytest.raises(TypeError, match=r"missing arguments \['salt'\]"):
        await ids.hash_password("a")
    with pytest.raises(AttributeError, match=r"has no method 'drop_tables'.*hash_password"):
        ids.drop_tables  # noqa: B018


async def test_a_module_that_does_not_match_its_manifest_does_not_start(
        tmp_path: Path) -> None:
    from gati.modules import ModuleProtocolError
    from gati.modules.protocol import MethodDecl

    spec = replace(ids_spec(), methods=(*ids_spec().methods, MethodDecl("shred", (), {})))
    with pytest.raises(ModuleProtocolError, match=r"lacks the declared methods \['shred'\]"):
        await ProcessModule(spec).start()


async def test_reload_under_load_fails_no_call_and_the_new_version_answers(
        tmp_path: Path, started: Started) -> None:
    (tmp_path / "version.txt").write_text("1")
    module: ProcessModule = await started(misbehaving_spec(tmp_path))
    assert await module.version() == "1"
    old = module.process
    stop = asyncio.Event()

    async def load() -> int:
        done = 0
        while not stop.is_set():
            assert await module.sleep(0.02) == 0.02
            done += 1
        return done

    workers = [asyncio.ensure_future(load()) for _ in range(16)]
    await eventually(lambda: _true(old is not None and old.in_flight > 8), within=10,
                     what="calls in flight on the old process")
    (tmp_path / "version.txt").write_text("2")
    handshake = await module.reload()
    assert handshake.version == "2"
    stop.set()
    counts = await asyncio.gather(*workers)  # any failed call raises here
    assert sum(counts) > 16 and module.stats.errors == 0
    assert await module.version() == "2"
    assert old is not None and not old.alive and module.stats.reloads == 1


async def _true(value: bool) -> bool:
    return value


async def test_per_module_metrics_count_calls_errors_and_restarts(tmp_path: Path) -> None:
    from gati.modules import ModuleCallFailed, ModuleCrashed
    from gati.observability.metrics import PrometheusMetrics

    metrics = PrometheusMetrics()
    module = ProcessModule(misbehaving_spec(tmp_path))
    module.bind_worker(metrics=metrics, redactor=None)
    await module.start()
    try:
        assert await module.echo(1) == 1
        with pytest.raises(ModuleCallFailed):
            await module.fail("no")
        with pytest.raises(ModuleCrashed):
            await module.exit()
        assert await asyncio.wait_for(module.echo(2), 10) == 2
    finally:
        await module.close()
    text = metrics.exposition()[0].decode()
    assert 'gati_module_calls_total{module="misbehaving"} 4.0' in text
    assert 'gati_module_errors_total{code="module_call_failed",module="misbehaving"} 1.0' in text
    assert 'gati_module_errors_total{code="module_crashed",module="misbehaving"} 1.0' in text
    assert 'gati_module_restarts_total{module="misbehaving"} 1.0' in text
    assert 'gati_module_call_seconds_count{module="misbehaving"} 4.0' in text


async def test_a_secret_handed_to_a_module_is_masked_if_the_module_returns_it(
        tmp_path: Path) -> None:
    from gati.core.observe import NoMetrics
    from gati.core.redact import Redactor
    from gati.modules import EnvSecrets
    from gati.modules.spec import Capabilities

    token = "tok-3f9a77c2e1d04b"
    spec = misbehaving_spec(tmp_path, capabilities=Capabilities(secrets=("TOKEN",)))
    app = App("leaky")
    process_module(app, spec)

    @app.get("/leak", handler_id="leaky.leak")
    async def leak(req: Request, res: Response, lctx: LocalContext,
                   gctx: GlobalContext) -> None:
        res.json({"got": await gctx.modules.misbehaving.secret("TOKEN")})

    redactor = Redactor()
    module = ProcessModule(spec, secrets=[EnvSecrets({"TOKEN": token})])
    module.bind_worker(metrics=NoMetrics(), redactor=redactor)
    await module.start()
    try:
        services = Services(modules={"misbehaving": ModuleEntry(
            module, app.modules["misbehaving"].policy)}, config={}, redactor=redactor)
        now = SystemClock().now_us()
        env = RequestEnvelope("req-leak", "g", "t", 0, now, now + 10_000_000, "GET",
                              "/leak", "", (), b"")
        outcome = await Pipeline(app, services, clock=SystemClock()).process(env)
    finally:
        await module.close()
    assert outcome.response.status == 200
    effect = next(e for e in outcome.events if e.stage == "effect")
    assert effect.detail is not None and token not in effect.detail
    assert "secret" in effect.detail and "misbehaving" in effect.detail  # recorded, masked
