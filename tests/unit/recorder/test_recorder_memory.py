"""Recorder on MemoryLog + SQLite: the log ends up in the store; bad bytes are set aside."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
import pytest_asyncio

from examples.users.app import app as users_app
from gati.codec import EnvelopeCodec
from gati.config import Settings
from gati.core.envelopes import LifecycleEvent, RequestEnvelope, ResponseEnvelope
from gati.gateway.bodies import TypedBodies
from gati.log.memory import MemoryLog
from gati.recorder import Recorder
from gati.store import Store
from gati.store.schemas import SchemaStore

SETTINGS = Settings(topic_prefix="unit", requests_partitions=2, recorder_batch_size=10)
CODEC = EnvelopeCodec()
Eventually = Callable[..., Awaitable[Any]]


def events_for(request_id: str) -> list[LifecycleEvent]:
    stages = ["received", "routed", "handler_start", "handler_end", "responded"]
    return [
        LifecycleEvent(request_id, seq, stage, 1_750_000_000_000_000 + seq,
                       handler_id="h" if seq else None,
                       status=200 if stage in ("handler_end", "responded") else None)
        for seq, stage in enumerate(stages)
    ]


@pytest_asyncio.fixture
async def running(store: Store) -> AsyncIterator[tuple[MemoryLog, Recorder]]:
    log = MemoryLog()
    recorder = Recorder(SETTINGS, log, store, codec=CODEC)
    task = asyncio.create_task(recorder.run())
    try:
        await asyncio.wait_for(recorder.ready.wait(), timeout=5)
        yield log, recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled()


async def publish(log: MemoryLog, env: RequestEnvelope, events: list[LifecycleEvent]) -> None:
    key = env.request_id.encode()
    await log.send(SETTINGS.requests_topic, CODEC.encode_request(env), key=key)
    for ev in events:
        await log.send(SETTINGS.lifecycle_topic, CODEC.encode_event(ev), key=key)


async def test_envelopes_and_events_on_the_topics_end_up_in_the_store(
    running: tuple[MemoryLog, Recorder], store: Store, make_envelope: Callable[..., Any],
    eventually: Eventually,
) -> None:
    log, _ = running
    envs = [make_envelope(method="POST", path=f"/items/{i}") for i in range(3)]
    for env in envs:
        await publish(log, env, events_for(env.request_id))

    async def all_answered() -> bool:
        rows = [await store.get_request(e.request_id) for e in envs]
        return all(r is not None and r["status"] == 200 and r["path"] for r in rows)

    await eventually(all_answered, what="three answered requests in the store")
    for env in envs:
        row = await store.get_request(env.request_id)
        assert row is not None
        assert (row["method"], row["path"], row["handler_id"]) == ("POST", env.path, "h")
        assert [r.stage for r in await store.lifecycle(env.request_id)] == [
            "received", "routed", "handler_start", "handler_end", "responded"]


async def test_offsets_are_committed_once_recorded(
    running: tuple[MemoryLog, Recorder], store: Store, make_envelope: Callable[..., Any],
    eventually: Eventually,
) -> None:
    log, _ = running
    env = make_envelope()
    await publish(log, env, events_for(env.request_id))

    def committed(topic: str) -> list[int]:
        n = len(log.end_offsets(topic))
        return [log.committed.get((SETTINGS.recorder_group, topic, p), 0) for p in range(n)]

    async def all_committed() -> bool:
        return all(committed(t) == log.end_offsets(t)
                   for t in (SETTINGS.requests_topic, SETTINGS.lifecycle_topic))

    await eventually(all_committed, what="the recorder to commit every offset")
    assert await store.count_events() == 5  # committed only after the store has them


async def test_an_undecodable_message_is_dead_lettered_and_its_neighbours_recorded(
    running: tuple[MemoryLog, Recorder], store: Store, make_envelope: Callable[..., Any],
    eventually: Eventually,
) -> None:
    log, recorder = running
    topic = SETTINGS.lifecycle_topic
    key = b"same-partition"
    before, after = LifecycleEvent("r-1", 0, "received", 1), LifecycleEvent("r-1", 1, "routed", 2)
    garbage = b"\x00\x00\x00\x00\x03\xff\xff\xff"  # a LifecycleEvent id, a corrupt body

    await log.send(topic, CODEC.encode_event(before), key=key)
    await log.send(topic, garbage, key=key)
    await log.send(topic, CODEC.encode_event(after), key=key)

    async def recorded_and_dead_lettered() -> bool:
        rows = await store.lifecycle("r-1")
        return len(rows) == 2 and sum(log.end_offsets(SETTINGS.deadletter_topic)) == 1

    await eventually(recorded_and_dead_lettered, what="two events recorded, one dead letter")
    assert [r.stage for r in await store.lifecycle("r-1")] == ["received", "routed"]

    dead_sub = log.subscribe([SETTINGS.deadletter_topic], group="inspect")
    await dead_sub.start()
    [record] = await dead_sub.fetch(max_records=10, timeout_s=0)
    registry = CODEC.codec.registry
    name, letter = CODEC.codec.decode(record.value, registry.ids_for("gati.DeadLetter"))

    garbage_record = next(r for p in log.topics[topic].partitions for r in p if r.value == garbage)
    assert name == "gati.DeadLetter"
    assert letter["value"] == garbage
    assert letter["key"] == key
    assert letter["source_topic"] == topic
    assert letter["source_partition"] == garbage_record.partition
    assert letter["source_offset"] == garbage_record.offset
    assert letter["consumer"] == "recorder"
    assert "LifecycleEvent" in letter["reason"]
    assert recorder.stats.dead_letters == 1


@pytest.mark.parametrize("wrong", ["response", "foreign"])
async def test_a_message_of_the_wrong_kind_is_dead_lettered(
    running: tuple[MemoryLog, Recorder], make_envelope: Callable[..., Any],
    eventually: Eventually, wrong: str,
) -> None:
    log, _ = running
    value = (
        CODEC.encode_response(ResponseEnvelope("r", 200, (), b"", 1))
        if wrong == "response" else b'{"json": "from another producer"}'
    )
    await log.send(SETTINGS.requests_topic, value)

    async def dead_lettered() -> bool:
        return sum(log.end_offsets(SETTINGS.deadletter_topic)) == 1

    await eventually(dead_lettered, what="one dead letter")


async def test_a_typed_body_nobody_can_decode_is_dead_lettered_and_the_rest_recorded(
    running: tuple[MemoryLog, Recorder], store: Store, make_envelope: Callable[..., Any],
    eventually: Eventually,
) -> None:
    """A body schema the store never had, or Avro bytes that are not a value of a stored
    schema: the whole message goes to the dead-letter topic (never guessed at), while a
    typed body that does decode is stored as JSON with its schema id."""
    log, recorder = running
    users_app.validate()
    bodies = await TypedBodies.register(users_app, SchemaStore(store.engine).ensure)
    good = bodies.encode("POST", "/users", None, "application/json",
                         b'{"name": "Ada", "email": "ada@example.com"}')
    assert good is not None
    schema_id, avro = good
    ok = replace(make_envelope(method="POST", path="/users"), body=avro, body_schema=schema_id)
    unknown = replace(make_envelope(), body=avro, body_schema=987_654)
    corrupt = replace(make_envelope(), body=b"\xff\xff\xff", body_schema=schema_id)
    for env in (ok, unknown, corrupt):
        await publish(log, env, [])

    async def settled() -> bool:
        return (await store.get_request(ok.request_id) is not None
                and sum(log.end_offsets(SETTINGS.deadletter_topic)) == 2)

    await eventually(settled, what="the decodable request stored, two dead letters")
    row = await store.get_request(ok.request_id)
    assert row is not None and row["body_schema"] == schema_id
    assert row["body"] == b'{"name":"Ada","email":"ada@example.com"}'
    assert await store.get_request(unknown.request_id) is None
    assert await store.get_request(corrupt.request_id) is None
    dead_sub = log.subscribe([SETTINGS.deadletter_topic], group="inspect")
    await dead_sub.start()
    reasons = [CODEC.codec.decode(r.value, CODEC.codec.registry.ids_for("gati.DeadLetter"))[1]
               ["reason"] for r in await dead_sub.fetch(max_records=10, timeout_s=0)]
    assert any("987654 is not in the schema store" in r for r in reasons), reasons
    assert any("cannot decode" in r for r in reasons), reasons
    assert recorder.stats.dead_letters == 2
