"""MemoryLog: the embedded log keeps Kafka's contract where Gati relies on it."""

from __future__ import annotations

import asyncio

import pytest

from gati.core.ports import OutMessage, TopicSpec
from gati.errors import BackendUnavailable
from gati.log.memory import MemoryLog


async def _drain(sub, max_records: int = 1000) -> list:  # type: ignore[no-untyped-def]
    """Everything available now, without waiting."""
    out = []
    while batch := await sub.fetch(max_records=max_records, timeout_s=0):
        out.extend(batch)
    return out


async def test_same_key_lands_on_one_partition_in_send_order() -> None:
    log = MemoryLog()
    await log.ensure_topics([TopicSpec("t", partitions=4)])
    keys = [f"user-{i}".encode() for i in range(8)]
    for n in range(40):
        key = keys[n % len(keys)]
        await log.send("t", f"{key.decode()}:{n}".encode(), key=key)

    sub = log.subscribe(["t"], group="g")
    await sub.start()
    records = await _drain(sub)

    assert len(records) == 40
    for key in keys:
        mine = [r for r in records if r.key == key]
        assert len({r.partition for r in mine}) == 1, f"{key!r} spread over partitions"
        sent_order = [int(r.value.split(b":")[1]) for r in sorted(mine, key=lambda r: r.offset)]
        assert sent_order == sorted(sent_order)
        assert len(mine) == 5
    assert len({r.partition for r in records}) > 1  # keys really are spread out


async def test_send_batch_keeps_order() -> None:
    log = MemoryLog()
    await log.send_batch([OutMessage("t", str(i).encode(), key=b"k") for i in range(10)])
    sub = log.subscribe(["t"], group="g")
    await sub.start()
    assert [r.value for r in await _drain(sub)] == [str(i).encode() for i in range(10)]


async def test_a_new_subscription_of_a_group_resumes_after_its_commit() -> None:
    log = MemoryLog()
    for i in range(5):
        await log.send("t", str(i).encode())

    first = log.subscribe(["t"], group="g")
    await first.start()
    got = await first.fetch(max_records=3, timeout_s=0)
    await first.commit()
    await first.stop()

    second = log.subscribe(["t"], group="g")
    await second.start()
    rest = await _drain(second)

    assert [r.value for r in got] == [b"0", b"1", b"2"]
    assert [r.value for r in rest] == [b"3", b"4"]


async def test_uncommitted_records_are_delivered_again() -> None:
    log = MemoryLog()
    for i in range(4):
        await log.send("t", str(i).encode())

    first = log.subscribe(["t"], group="g")
    await first.start()
    await first.fetch(max_records=2, timeout_s=0)
    await first.commit()  # 0 and 1 are done
    await first.fetch(max_records=2, timeout_s=0)  # 2 and 3 fetched, never committed
    await first.stop()

    second = log.subscribe(["t"], group="g")
    await second.start()
    assert [r.value for r in await _drain(second)] == [b"2", b"3"]


async def test_groups_keep_separate_positions() -> None:
    log = MemoryLog()
    await log.send("t", b"a")
    one = log.subscribe(["t"], group="one")
    await one.start()
    await _drain(one)
    await one.commit()

    other = log.subscribe(["t"], group="other")
    await other.start()
    assert [r.value for r in await _drain(other)] == [b"a"]


async def test_a_subscription_without_group_starts_at_the_end() -> None:
    log = MemoryLog()
    await log.send("replies", b"stale")
    sub = log.subscribe(["replies"], group=None)
    await sub.start()

    assert await sub.fetch(max_records=10, timeout_s=0) == []
    await log.send("replies", b"fresh")
    assert [r.value for r in await sub.fetch(max_records=10, timeout_s=0)] == [b"fresh"]


async def test_fetch_waits_for_new_data_and_returns_when_it_arrives() -> None:
    log = MemoryLog()
    sub = log.subscribe(["t"], group="g")
    await sub.start()

    task = asyncio.create_task(sub.fetch(max_records=10, timeout_s=30))
    await asyncio.sleep(0)  # let the fetch run until it blocks on the empty log
    assert not task.done()

    await log.send("t", b"hello")
    records = await asyncio.wait_for(task, timeout=5)
    assert [r.value for r in records] == [b"hello"]


async def test_fetch_on_an_empty_log_returns_nothing_after_its_timeout() -> None:
    log = MemoryLog()
    sub = log.subscribe(["t"], group="g")
    await sub.start()
    assert await sub.fetch(max_records=10, timeout_s=0.01) == []


async def test_a_stopped_log_refuses_sends() -> None:
    log = MemoryLog(available=False)
    with pytest.raises(BackendUnavailable):
        await log.send("t", b"x")


async def test_a_partition_that_does_not_exist_is_refused() -> None:
    log = MemoryLog()
    await log.ensure_topics([TopicSpec("t", partitions=2)])
    with pytest.raises(BackendUnavailable, match="partition 2"):
        await log.send("t", b"x", partition=2)
