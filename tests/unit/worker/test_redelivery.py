"""A request delivered again after its worker died is never silently run twice.

Each test plays two workers on one log: the first takes the request and dies (its task
is cancelled, as a SIGKILL would end it), the second is given the partition and takes
the same record again, as Kafka redelivers an uncommitted offset.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.codec.envelopes import EnvelopeCodec
from gati.config import Settings
from gati.core.envelopes import LifecycleEvent, RequestEnvelope, ResponseEnvelope
from gati.core.ports import LogRecord, SystemClock
from gati.log.memory import MemoryLog
from gati.worker.processor import Processor
from gati.worker.runtime import WorkerRuntime

CODEC = EnvelopeCodec()
SETTINGS = Settings(topic_prefix="t", worker_id="w1", requests_partitions=1)
CALLS: list[str] = []
HOLD = asyncio.Event()  # set: handlers pass; clear: they wait (their worker "dies" there)
IN_CALL = asyncio.Event()  # clear: the ledger's call waits inside the module


@pytest.fixture(autouse=True)
def _fresh_hold() -> None:
    """An Event belongs to the loop it first waited on; each test has its own loop."""
    global HOLD, IN_CALL
    HOLD = asyncio.Event()
    IN_CALL = asyncio.Event()
    IN_CALL.set()


class Ledger:
    """A non-idempotent effect: every call is a new row (a charge, an email)."""

    def __init__(self, config: dict[str, Any]) -> None:
        pass

    async def append(self, request_id: str) -> int:
        CALLS.append(request_id)
        await IN_CALL.wait()
        return len(CALLS)


app = App("orders")
app.module("ledger")(Ledger)


@app.post("/orders")
async def order(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    first = await gctx.modules.ledger.append(lctx.meta.request_id)
    await HOLD.wait()
    second = await gctx.modules.ledger.append(lctx.meta.request_id)
    res.status(201).json({"rows": [first, second], "at": lctx.now_us()})


def _record(rid: str, *, accept_by_us: int | None = None, appended_ms: int | None = None,
            reply_topic: str = "t.replies.g") -> LogRecord:
    now = SystemClock().now_us()
    env = RequestEnvelope(rid, "g", reply_topic, 0, now, now + 30_000_000, "POST", "/orders",
                          "", (("content-type", "application/json"),), b"{}",
                          accept_by_us=accept_by_us)
    stamp = appended_ms if appended_ms is not None else now // 1000
    return LogRecord("t.requests", 0, 0, rid.encode(), CODEC.encode_request(env), stamp)


async def _worker(log: MemoryLog, name: str) -> tuple[Processor, WorkerRuntime]:
    from dataclasses import replace

    settings = replace(SETTINGS, worker_id=name)
    runtime = WorkerRuntime(app, settings, sources=[])
    pipeline = await runtime.start()
    processor = Processor(settings, pipeline, log, clock=SystemClock())
    processor.partitions_assigned({0})
    return processor, runtime


def _replies(log: MemoryLog) -> list[ResponseEnvelope]:
    topic = log.topics.get("t.replies.g")
    return [] if topic is None else [CODEC.decode_response(r.value)
                                     for p in topic.partitions for r in p]


def _steps(log: MemoryLog, rid: str) -> list[LifecycleEvent]:
    found: dict[int, LifecycleEvent] = {}
    for p in log.topics["t.lifecycle"].partitions:
        for r in p:
            for ev in CODEC.decode_any(r.value):  # type: ignore[union-attr]
                if isinstance(ev, LifecycleEvent) and ev.request_id == rid:
                    found.setdefault(ev.seq, ev)
    return [found[s] for s in sorted(found)]


async def _until(cond: Any) -> None:
    async with asyncio.timeout(5):
        while not cond():  # noqa: ASYNC110 - polls a counter the processor bumps
            await asyncio.sleep(0.01)


async def test_a_request_answered_before_its_worker_died_is_answered_again_not_rerun() -> None:
    CALLS.clear()
    HOLD.set()
    log = MemoryLog(auto_create_partitions=1)
    first, r1 = await _worker(log, "w1")
    await first.handle(_record("r-done"))
    assert len(CALLS) == 2 and len(_replies(log)) == 1

    second, r2 = await _worker(log, "w2")  # the offset was never committed
    await second.handle(_record("r-done"))
    assert len(CALLS) == 2, "the handler's effects ran again"
    again = _replies(log)
    assert [r.status for r in again] == [201, 201] and again[0].body == again[1].body
    stages = [e.stage for e in _steps(log, "r-done")]
    assert stages.count("responded") == 1 and stages[-1] == "redelivered"
    assert [e.seq for e in _steps(log, "r-done")] == list(range(len(stages)))
    await r1.close()
    await r2.close()


async def test_a_request_whose_worker_died_mid_way_resumes_without_repeating_effects() -> None:
    CALLS.clear()
    HOLD.clear()
    log = MemoryLog(auto_create_partitions=1)
    first, r1 = await _worker(log, "w1")
    dying = asyncio.create_task(first.handle(_record("r-mid")))
    assert first.journal is not None
    # Two writes: the call's intent before it, its result after it.
    await _until(lambda: first.journal is not None and first.journal.writes == 2)
    dying.cancel()  # the worker dies after its first effect was journaled
    await asyncio.gather(dying, return_exceptions=True)
    assert CALLS == ["r-mid"] and _replies(log) == []

    HOLD.set()
    second, r2 = await _worker(log, "w2")
    await second.handle(_record("r-mid"))
    assert CALLS == ["r-mid", "r-mid"], "only the call after the crash may run"
    (reply,) = _replies(log)
    assert reply.status == 201 and json.loads(reply.body)["rows"] == [1, 2]
    steps = _steps(log, "r-mid")
    stages = [e.stage for e in steps]
    assert [e.seq for e in steps] == list(range(len(steps))), "gapless"
    assert stages.count("resumed") == 1 and stages.count("responded") == 1
    resumed = steps[stages.index("resumed")]
    assert json.loads(resumed.detail or "{}")["journaled_effects"] == 1
    assert {e.worker_id for e in steps} == {"w1", "w2"}
    await r1.close()
    await r2.close()


async def test_an_envelope_the_log_took_after_the_gateway_gave_up_is_refused() -> None:
    CALLS.clear()
    HOLD.set()
    log = MemoryLog(auto_create_partitions=1)
    worker, runtime = await _worker(log, "w1")
    now_ms = SystemClock().now_us() // 1000
    await worker.handle(_record("r-late", accept_by_us=(now_ms - 2000) * 1000,
                                appended_ms=now_ms))
    await worker.handle(_record("r-ok", accept_by_us=(now_ms + 2000) * 1000,
                                appended_ms=now_ms))
    assert CALLS == ["r-ok", "r-ok"], "a refused request must not run"
    late, ok = _replies(log)
    assert late.status == 503 and json.loads(late.body)["error"]["code"] == "log_unavailable"
    assert ok.status == 201
    assert "refused" in [e.stage for e in _steps(log, "r-late")]
    await runtime.close()


async def test_an_envelope_naming_a_foreign_reply_topic_is_dead_lettered() -> None:
    CALLS.clear()
    HOLD.set()
    log = MemoryLog(auto_create_partitions=1)
    worker, runtime = await _worker(log, "w1")
    for rid, topic in [("r-steer", "t.lifecycle"), ("r-bad", "no such/topic!")]:
        await worker.handle(_record(rid, reply_topic=topic))
    await worker.handle(_record("r-fine"))
    assert CALLS == ["r-fine", "r-fine"]
    assert len(log.topics["t.deadletter"].partitions[0]) == 2
    assert [r.request_id for r in _replies(log)] == ["r-fine"]
    await runtime.close()


async def test_a_delivery_of_a_request_the_worker_still_runs_waits_for_that_run() -> None:
    CALLS.clear()
    HOLD.clear()
    log = MemoryLog(auto_create_partitions=1)
    worker, runtime = await _worker(log, "w1")
    running = asyncio.create_task(worker.handle(_record("r-twice")))
    await _until(lambda: len(CALLS) == 1)
    worker.partitions_assigned({0})  # a rebalance handed the partition back
    again = asyncio.create_task(worker.handle(_record("r-twice")))
    HOLD.set()
    await asyncio.gather(running, again)
    assert CALLS == ["r-twice", "r-twice"], "the second delivery ran the handler again"
    first, second = _replies(log)
    assert first.status == second.status == 201 and first.body == second.body
    stages = [e.stage for e in _steps(log, "r-twice")]
    assert stages.count("responded") == 1 and stages[-1] == "redelivered"
    await runtime.close()


async def test_a_call_in_progress_when_the_worker_died_is_never_made_again() -> None:
    CALLS.clear()
    HOLD.set()
    IN_CALL.clear()
    log = MemoryLog(auto_create_partitions=1)
    first, r1 = await _worker(log, "w1")
    dying = asyncio.create_task(first.handle(_record("r-in-call")))
    await _until(lambda: len(CALLS) == 1)  # inside the module: the row may be written
    dying.cancel()
    await asyncio.gather(dying, return_exceptions=True)

    IN_CALL.set()
    second, r2 = await _worker(log, "w2")
    await second.handle(_record("r-in-call"))
    assert CALLS == ["r-in-call"], "a call of unknown outcome was made again"
    (reply,) = _replies(log)
    assert reply.status == 500
    assert json.loads(reply.body)["error"]["code"] == "effect_outcome_unknown"
    stages = [e.stage for e in _steps(log, "r-in-call")]
    assert stages.count("resumed") == 1 and stages.count("responded") == 1
    await r1.close()
    await r2.close()


async def test_a_journal_that_cannot_be_written_fails_the_call_before_it_is_made() -> None:
    CALLS.clear()
    HOLD.set()
    log = MemoryLog(auto_create_partitions=1)
    worker, runtime = await _worker(log, "w1")
    assert worker.journal is not None

    class Down:
        """The log as a paused broker leaves it: readable from before, no new appends."""

        read_since = log.read_since

        async def send(self, *args: Any, **kwargs: Any) -> None:
            from gati.errors import BackendUnavailable

            raise BackendUnavailable("broker paused")

    worker.journal.log = Down()  # type: ignore[assignment]
    await worker.handle(_record("r-down"))
    assert CALLS == [], "the effect ran although its journal could not be written"
    (reply,) = _replies(log)
    assert reply.status == 503
    assert json.loads(reply.body)["error"]["code"] == "journal_unavailable"
    await runtime.close()


async def test_every_way_a_delivery_ends_replays_identically(tmp_path: Any) -> None:
    """Resumed, answered again, refused, failed closed: the record replays as it ran."""
    from gati.replay import Replayer
    from gati.store import open_store

    CALLS.clear()
    HOLD.set()
    log = MemoryLog(auto_create_partitions=1)
    first, r1 = await _worker(log, "w1")
    second, r2 = await _worker(log, "w2")
    now_ms = SystemClock().now_us() // 1000
    records = [_record("x-done"), _record("x-late", accept_by_us=(now_ms - 5000) * 1000,
                                          appended_ms=now_ms)]
    await first.handle(records[0])
    await second.handle(records[0])  # answered again from the record
    await first.handle(records[1])  # refused
    IN_CALL.clear()
    records.append(_record("x-in-call"))
    dying = asyncio.create_task(first.handle(records[-1]))
    await _until(lambda: "x-in-call" in CALLS)
    dying.cancel()
    await asyncio.gather(dying, return_exceptions=True)
    IN_CALL.set()
    second.partitions_assigned({0})  # the partition moves to the second worker again
    await second.handle(records[-1])  # fails closed: effect_outcome_unknown
    assert CALLS.count("x-in-call") == 1

    store = await open_store(f"sqlite+aiosqlite:///{tmp_path}/r.db", migrate_first=True)
    try:
        events = [ev for p in log.topics["t.lifecycle"].partitions for r in p
                  for ev in CODEC.decode_any(r.value)]  # type: ignore[union-attr]
        envelopes = [CODEC.decode_request(r.value) for r in records]
        await store.record(envelopes, events)  # type: ignore[arg-type]
        batch = await Replayer(app=app, engine=store.engine).replay_many(
            [e.request_id for e in envelopes])
        assert batch.total == 3
        problems = [(r.request_id, r.divergence, r.error)
                    for r in (*batch.diverged, *batch.failed)]
        assert not problems
        statuses = {e.request_id: (await store.get_request(e.request_id) or {})["status"]
                    for e in envelopes}
        assert statuses == {"x-done": 201, "x-late": 503, "x-in-call": 500}
    finally:
        await store.close()
        await r1.close()
        await r2.close()


async def test_past_its_first_effect_a_request_waits_out_a_journal_outage_instead_of_503() -> None:
    """A 503 says nothing happened: once the ledger ran, the outage is waited out."""
    CALLS.clear()
    log = MemoryLog(auto_create_partitions=1)
    worker, runtime = await _worker(log, "w1")
    assert worker.journal is not None
    attempts: list[int] = []

    class Down:
        read_since = log.read_since

        async def send(self, *args: Any, **kwargs: Any) -> None:
            from gati.errors import BackendUnavailable

            attempts.append(1)
            raise BackendUnavailable("broker paused")

    running = asyncio.create_task(worker.handle(_record("r-half")))
    await _until(lambda: CALLS == ["r-half"])  # the first effect happened; HOLD is clear
    worker.journal.log = Down()  # type: ignore[assignment]
    HOLD.set()
    await _until(lambda: len(attempts) >= 2)  # the second intent is retried, not failed
    assert _replies(log) == []
    worker.journal.log = log  # the broker is back
    await running
    (reply,) = _replies(log)
    assert reply.status == 201 and json.loads(reply.body)["rows"] == [1, 2]
    assert CALLS == ["r-half", "r-half"]
    await runtime.close()
