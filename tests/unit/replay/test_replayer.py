"""Replay against the record: identical runs, and each kind of mutation caught where it is."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from gati import App, GlobalContext, LocalContext, Request, RequestError, Response
from gati.core.context import ModuleEntry, Secrets, Services
from gati.core.effects import CallPolicy
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Pipeline
from gati.core.ports import SystemClock
from gati.modules.secrets import EnvSecrets
from gati.replay import Replayer, ReplayError
from gati.store import Store, open_store


class Accounts:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def get_user(self, user_id: str) -> dict[str, Any]:
        return {"id": user_id, "email": f"u{user_id}@example.com"}

    async def find_user(self, user_id: str) -> dict[str, Any]:
        return {"id": user_id, "email": "other@example.com"}

    async def send_mail(self, to: str, token: str) -> bool:
        self.sent.append(to)
        return True

    async def charge(self, user_id: str) -> None:
        raise LookupError(f"no card for {user_id}")


Variant = Callable[[App], None]


def build(variant: str = "original") -> App:
    app = App("shop")
    app.module("accounts")(lambda config: Accounts())

    @app.get("/users/{uid}", handler_id="shop.get_user", snapshots="always")
    async def get_user(
        req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
    ) -> None:
        uid = str(req.params["uid"])
        if variant == "other_args":
            uid = uid + "0"
        method = "find_user" if variant == "other_method" else "get_user"
        user = await getattr(gctx.modules.accounts, method)(uid)
        lctx.set("seen", lctx.now().isoformat())
        if variant == "extra_clock":
            lctx.now()
        token = gctx.secrets.get("MAIL_TOKEN").reveal()
        await gctx.modules.accounts.send_mail(user["email"], token)
        body = {"user": user, "ticket": lctx.uuid(), "luck": lctx.random()}
        if variant == "other_body":
            body["user"] = {**user, "email": "changed@example.com"}
        res.json(body)

    @app.post("/charge/{uid}", handler_id="shop.charge")
    async def charge(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        try:
            await gctx.modules.accounts.charge(str(req.params["uid"]))
        except LookupError as exc:
            raise RequestError(str(exc), code="no_card", status=402) from None

    return app


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path}/replay.db", migrate_first=True)
    yield s
    await s.close()


async def record(
    store: Store, app: App, method: str, path: str, accounts: Accounts, n: int = 1
) -> str:
    services = Services(modules={"accounts": ModuleEntry(accounts, CallPolicy())}, config={})
    services.secrets = Secrets([EnvSecrets({"MAIL_TOKEN": "mail-token-123456"})], services.redactor)
    pipeline = Pipeline(app, services, clock=SystemClock())
    now = SystemClock().now_us()
    env = RequestEnvelope(
        f"req-{n}-{path}", "g", "t", 0, now, now + 10_000_000, method, path, "", (), b""
    )
    outcome = await pipeline.process(env)
    await store.record([env], list(outcome.events))
    return env.request_id


async def test_an_unchanged_handler_replays_identically_without_calling_modules(
    store: Store,
) -> None:
    accounts = Accounts()
    rid = await record(store, build(), "GET", "/users/42", accounts)
    assert accounts.sent == ["u42@example.com"]
    result = await Replayer(app=build(), engine=store.engine).replay(rid)
    assert result.identical, result.divergence
    assert result.replayed_body == result.recorded_body
    assert accounts.sent == ["u42@example.com"]  # replay sent no second mail


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        (
            "other_method",
            "recorded accounts.get_user('42'), replay called accounts.find_user('42')",
        ),
        ("other_args", "recorded accounts.get_user('42'), replay called accounts.get_user('420')"),
        ("extra_clock", "recorded secret 'MAIL_TOKEN', replay made a clock read"),
        ("other_body", "response body differs at $.user.email"),
    ],
)
async def test_each_mutation_is_reported_at_its_first_divergent_step(
    store: Store, variant: str, expected: str
) -> None:
    rid = await record(store, build(), "GET", "/users/42", Accounts())
    result = await Replayer(app=build(variant), engine=store.engine).replay(rid)
    assert not result.identical
    assert result.divergence is not None
    assert expected in result.divergence.message, result.divergence.message
    if variant == "extra_clock":
        assert "replay made a clock read" in result.divergence.message
    if variant == "other_method":
        assert result.divergence.message.startswith("effect 1 ")


async def test_a_recorded_module_error_is_raised_again_as_its_class(store: Store) -> None:
    rid = await record(store, build(), "POST", "/charge/7", Accounts())
    result = await Replayer(app=build(), engine=store.engine).replay(rid)
    assert result.identical, result.divergence
    assert result.replayed_status == 402


async def test_resuming_at_a_snapshot_continues_from_its_state(store: Store) -> None:
    rid = await record(store, build(), "GET", "/users/42", Accounts())
    steps = await store.lifecycle(rid)
    snap = next(s for s in steps if s.stage == "snapshot")
    result = await Replayer(app=build(), engine=store.engine).replay(rid, at=snap.seq)
    assert result.identical, result.divergence
    with pytest.raises(ReplayError, match="not a snapshot"):
        await Replayer(app=build(), engine=store.engine).replay(rid, at=0)


async def test_unknown_ids_and_live_in_production_are_refused(store: Store) -> None:
    with pytest.raises(ReplayError, match="no recorded request"):
        await Replayer(app=build(), engine=store.engine).replay("nope")
    with pytest.raises(ReplayError, match="refused in production"):
        Replayer(app=build(), engine=store.engine, live=True, live_modules={})


async def test_batch_replay_summarises_identical_and_diverged(store: Store) -> None:
    ids = [await record(store, build(), "GET", f"/users/{i}", Accounts(), n=i) for i in range(5)]
    same = await Replayer(app=build(), engine=store.engine).replay_many(ids)
    assert same.ok and len(same.identical) == 5 and same.rate_per_s > 0
    changed = await Replayer(app=build("other_body"), engine=store.engine).replay_many(ids)
    assert not changed.ok and len(changed.diverged) == 5
    assert json.loads(changed.diverged[0].replayed_body)["user"]["email"] == "changed@example.com"


class Slow:
    """Its second call outlasts the handler's time budget."""

    def __init__(self) -> None:
        self.calls = 0

    async def step(self, n: int) -> int:
        self.calls += 1
        if n == 2:
            await asyncio.Event().wait()  # until the handler's timeout cancels it
        return n


async def test_a_handler_cut_by_its_timeout_inside_a_call_replays_cut_at_that_call(
    store: Store,
) -> None:
    app = App("slow")
    app.module("slow")(lambda config: Slow())

    @app.post("/work", handler_id="slow.work", timeout_s=0.05)
    async def work(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        await gctx.modules.slow.step(1)
        await gctx.modules.slow.step(2)
        res.json("done")

    slow = Slow()
    services = Services(modules={"slow": ModuleEntry(slow, CallPolicy())}, config={})
    now = SystemClock().now_us()
    env = RequestEnvelope("req-cut", "g", "t", 0, now, now + 10_000_000, "POST", "/work",
                          "", (), b"")
    outcome = await Pipeline(app, services, clock=SystemClock()).process(env)
    await store.record([env], list(outcome.events))
    assert outcome.response.status == 504 and slow.calls == 2

    result = await Replayer(app=app, engine=store.engine).replay("req-cut")
    assert result.identical, result.divergence
    assert result.replayed_status == 504
    assert slow.calls == 2  # the replay made no call


class StuckJournal:
    """Takes the first call's steps; the write after the second call never returns."""

    def __init__(self) -> None:
        self.writes = 0

    async def write(self, scope: Any, *, until_taken: bool = False) -> None:
        self.writes += 1
        if self.writes == 4:  # intent 1, result 1, intent 2, result 2: stuck here
            await asyncio.Event().wait()
        scope.durable_through = scope.events[-1].seq


async def test_a_timeout_while_a_result_was_being_journaled_replays_without_that_result(
    store: Store,
) -> None:
    """The handler never saw the second call's result: neither does its replay."""
    from gati.core.effects import LiveEffects
    from gati.core.pipeline import Delivery

    app = App("journaled")
    app.module("fast")(lambda config: Accounts())

    @app.get("/u/{uid}", handler_id="journaled.get", timeout_s=0.05)
    async def get(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        await gctx.modules.fast.get_user("1")
        await gctx.modules.fast.get_user("2")
        res.json("saw both")

    services = Services(modules={"fast": ModuleEntry(Accounts(), CallPolicy())}, config={})
    now = SystemClock().now_us()
    env = RequestEnvelope("req-withheld", "g", "t", 0, now, now + 10_000_000, "GET", "/u/1",
                          "", (), b"")
    journal = StuckJournal()
    delivery = Delivery(effects=lambda scope: LiveEffects(scope, journal=journal))
    outcome = await Pipeline(app, services, clock=SystemClock()).process(env, delivery=delivery)
    await store.record([env], list(outcome.events))
    assert outcome.response.status == 504 and journal.writes == 4

    result = await Replayer(app=app, engine=store.engine).replay("req-withheld")
    assert result.identical, result.divergence
    assert result.replayed_status == 504
