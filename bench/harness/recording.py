"""How far the record trails the traffic: recorder lag after a load, drain rate of a
backlog.

* Lag: seconds from the end of a load until every request is in ``requests`` with its
  envelope and outcome and, on Kafka, until the table counts equal the topics' record
  counts (exact: every record is one row).
* Drain: stop the recorder, build a backlog with real traffic, start a new recorder
  process, and count rows per second between the first rows it writes and the last
  (so the consumer group's join is not counted; it is reported separately).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.harness.services import GatiSystem, KafkaOffsets, Record, RecordCounts
from gati.config import Settings

POLL_S = 0.02


async def _done(
    system: GatiSystem,
    counts: RecordCounts,
    offsets: KafkaOffsets | None,
    *,
    min_complete: int,
    lifecycle: bool,
) -> bool:
    if lifecycle and counts.complete != counts.requests:
        return False
    if offsets is None:
        return counts.complete >= min_complete
    totals = await offsets.totals(list(system.topics.values()))
    # Every request is in the table, and (with lifecycle) every one has its outcome. The
    # outcome arrives in a request's last lifecycle message, after its effect-journal
    # messages on the same partition, so a complete request has all its steps recorded.
    # (Counting lifecycle messages no longer measures this: the journal writes 1 + 2 per
    # module call.)
    return counts.requests == totals[system.topics["requests"]]


async def wait_recorded(
    system: GatiSystem,
    record: Record,
    offsets: KafkaOffsets | None,
    *,
    min_complete: int = 0,
    lifecycle: bool = True,
    within: float = 120.0,
) -> tuple[float, RecordCounts]:
    """Seconds until the record holds everything sent so far (see module doc)."""
    t0 = time.monotonic()
    while True:
        counts = await record.counts()
        if await _done(system, counts, offsets, min_complete=min_complete, lifecycle=lifecycle):
            return time.monotonic() - t0, counts
        if time.monotonic() - t0 > within:
            raise RuntimeError(f"record still incomplete after {within}s: {counts}")
        system.group.check_alive()
        await asyncio.sleep(POLL_S)


async def _settled(offsets: KafkaOffsets, topics: list[str], quiet_s: float = 1.0) -> None:
    """Wait until no topic has grown for ``quiet_s`` (the worker has finished)."""
    last = await offsets.totals(topics)
    since = time.monotonic()
    while time.monotonic() - since < quiet_s:
        await asyncio.sleep(0.1)
        now = await offsets.totals(topics)
        if now != last:
            last, since = now, time.monotonic()


async def measure_drain(
    system: GatiSystem,
    record: Record,
    offsets: KafkaOffsets,
    make_backlog: Callable[[], Awaitable[Any]],
) -> dict[str, Any]:
    """Recorder drain rate from a backlog built by ``make_backlog`` (Kafka backend)."""
    await wait_recorded(system, record, offsets)
    system.group.procs["recorder"].stop()
    backlog_load = await make_backlog()
    topics = list(system.topics.values())
    await _settled(offsets, topics)
    before = await record.counts()
    totals = await offsets.totals(topics)
    want_req, want_lc = totals[system.topics["requests"]], totals[system.topics["lifecycle"]]
    started = time.monotonic()
    system.restart("recorder")
    first: tuple[float, RecordCounts] | None = None
    while True:
        counts = await record.counts()
        now = time.monotonic()
        if first is None and counts.rows > before.rows:
            first = (now, counts)
        # One LifecycleBatch message per request (older workers: one per step).
        if counts.requests == want_req and (counts.complete >= want_lc
                                            or counts.lifecycle == want_lc):
            break
        if now - started > 600:
            raise RuntimeError(f"recorder did not drain the backlog in 600s: {counts}")
        system.group.check_alive()
        await asyncio.sleep(POLL_S)
    assert first is not None
    t_first, c_first = first
    span = now - t_first
    backlog_rows = counts.rows - before.rows
    return {
        "backlog_rows": backlog_rows,
        "backlog_lifecycle_rows": counts.lifecycle - before.lifecycle,
        "backlog_request_rows": want_req - before.requests,
        "start_to_first_rows_s": round(t_first - started, 3),
        "drain_s": round(span, 3),
        "rows_per_s": (counts.rows - c_first.rows) / span if span > 0 else None,
        "lifecycle_rows_per_s": (counts.lifecycle - c_first.lifecycle) / span if span else None,
        "rows_per_s_from_process_start": backlog_rows / (now - started),
        "backlog_load": backlog_load,
        "poll_interval_s": POLL_S,
        **_few_batches(want_req - before.requests),
    }


def _few_batches(requests: int) -> dict[str, str]:
    """A warning when the backlog is only a few recorder batches.

    The rate is timed from the first rows seen, so it leaves the first batch out, and the
    last, small batch waits for the broker's bulk fetch: with few batches those edges
    are most of the figure.
    """
    batches = 2 * requests / Settings().recorder_batch_size  # envelope + lifecycle batch
    if batches >= 8:
        return {}
    return {"warning": f"only {batches:.0f} recorder batches in the backlog; the rate means "
                       "little (bench/recorder_drain.py measures the drain properly)"}
