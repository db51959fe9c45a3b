"""What clients saw against what the record holds: the fault suite's table.

``check`` waits (bounded, polling) until every acknowledged request is recorded, then
reads the record with plain SQL and computes one ``Report`` row:

- **answered**: HTTP answers by status; **504 / 503 / conn**: gateway timeouts (any 504),
  503s, and requests with no HTTP answer (refused, reset or timed-out connections).
- **recorded** / **lost**: acknowledged requests (any HTTP answer except the gateway's
  503 ``log_unavailable``/``overloaded``/``starting``) with / without a ``requests`` row
  that has a status. A connection error is never counted lost: its id is unknown.
- **twice**: request ids with more than one ``fault_effects`` row (the ledger insert ran
  again), or answered or recorded ``409 email_taken``: every request creates a user with
  an email of its own, so only an earlier run of the same request can have taken it.
- **mismatch**: an acknowledged request whose ``requests.status`` differs from what the
  worker answered the client (a gateway 504 is not compared: its outcome is looked up
  later), or from its own ``responded`` step; or whose lifecycle has not exactly one
  ``responded`` event, or has gaps in ``seq`` (not 0..n-1).
- **503 ran**: requests answered 503 (by the gateway, ``log_unavailable``, or by a
  worker, e.g. ``journal_unavailable``) that have an effect row or a 2xx ``responded``
  step: the client was told "unavailable, retry", yet its effects happened.
- **replay**: identical / replayed, over every request of the database with a status.
- **stall**: the longest time without a 2xx answer: overall, and per worker (the worker
  is the one that recorded the request's ``responded`` step). The record does not keep a
  request's partition, so a worker's stall stands in for the stall of the partitions it
  owns; the window is from the run's first 2xx answer to its last answer of any kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fault_load import Seen
from harness import FaultSystem
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from support import eventually

RECORDED_WITHIN_S = 60.0
HEADER = ("| scenario | sent | answered | 504 | 503 | conn | recorded | lost | twice "
          "| mismatch | 503 ran | replay | stall all | stall per worker |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


@dataclass
class Report:
    scenario: str
    seen: list[Seen]
    recorded: int = 0
    lost: list[str] = field(default_factory=list)
    twice: dict[str, str] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    ran_after_503: list[str] = field(default_factory=list)
    replayed: int = 0
    replay_problems: list[str] = field(default_factory=list)
    stall_all: float = 0.0
    stall_by_worker: dict[str, float] = field(default_factory=dict)
    dead: dict[str, str] = field(default_factory=dict)

    @property
    def statuses(self) -> Counter[int]:
        return Counter(s.status for s in self.seen if s.status is not None)

    @property
    def acknowledged(self) -> list[Seen]:
        return [s for s in self.seen if s.acknowledged and s.request_id]

    def row(self) -> str:
        st = self.statuses
        answered = " ".join(f"{k}:{v}" for k, v in sorted(st.items()))
        conn = sum(1 for s in self.seen if not s.answered)
        per_worker = " ".join(f"{w.rsplit('-', 2)[-2]}-{w.rsplit('-', 1)[-1]}:{t:.1f}s"
                              for w, t in sorted(self.stall_by_worker.items()))
        replay = f"{self.replayed - len(self.replay_problems)}/{self.replayed}"
        return (f"| {self.scenario} | {len(self.seen)} | {answered} | {st[504]} | {st[503]} "
                f"| {conn} | {self.recorded}/{len(self.acknowledged)} | {len(self.lost)} "
                f"| {len(self.twice)} | {len(self.mismatches)} | {len(self.ran_after_503)} "
                f"| {replay} | {self.stall_all:.1f}s | {per_worker} |")

    def problems(self) -> list[str]:
        """The promises broken, each with up to five examples."""
        out = []
        for what, items in (
            ("acknowledged but never recorded (lost)", self.lost),
            ("requests whose effects ran more than once",
             [f"{k}: {v}" for k, v in self.twice.items()]),
            ("record contradicts the client or itself", self.mismatches),
            ("answered 503 and ran anyway (effects happened)", self.ran_after_503),
            ("replay not identical", self.replay_problems),
            ("processes dead at the end", [f"{n}:\n{t}" for n, t in self.dead.items()]),
        ):
            if items:
                out.append(f"{len(items)} {what}: " + "; ".join(items[:5]))
        return out

    def assert_clean(self, system: FaultSystem) -> None:
        problems = self.problems()
        assert not problems, (f"{self.scenario}: the record broke its promise\n"
                              f"{HEADER}\n{self.row()}\n- " + "\n- ".join(problems)
                              + f"\n\nprocess logs:\n{system.logs(15)}")


def table(reports: Sequence[Report]) -> str:
    return "\n".join([HEADER, *(r.row() for r in reports)])


def write_table(report: Report, tmp: Path) -> str:
    """Print the row's table, keep it in the test's tmp dir (and GATI_FAULTS_TABLE)."""
    import os

    text = table([report])
    print(f"\n{text}\n")
    (tmp / "faults.md").write_text(text + "\n")
    target = os.environ.get("GATI_FAULTS_TABLE")
    if target:
        with open(target, "a") as f:
            f.write(report.row() + "\n")
    return text


# ---- reading the record ------------------------------------------------------------

_IDS = sa.bindparam("ids", type_=ARRAY(sa.Text))
_REQUESTS = sa.text("SELECT request_id, status, error_code FROM requests "
                    "WHERE request_id = ANY(:ids)").bindparams(_IDS)
_LIFECYCLE = sa.text(
    "SELECT request_id, count(*), min(seq), max(seq), "
    "count(*) FILTER (WHERE stage = 'responded') FROM lifecycle_events "
    "WHERE request_id = ANY(:ids) GROUP BY request_id").bindparams(_IDS)
_RESPONDED = sa.text(
    "SELECT request_id, status, worker_id FROM lifecycle_events "
    "WHERE stage = 'responded' AND request_id = ANY(:ids) ORDER BY seq").bindparams(_IDS)
_EFFECTS = sa.text("SELECT request_id, count(*) FROM fault_effects GROUP BY request_id")


async def _rows(engine: AsyncEngine, query: Any, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(query, params))


async def _wait_recorded(engine: AsyncEngine, ids: list[str], within: float) -> None:
    query = sa.text("SELECT count(*) FROM requests WHERE status IS NOT NULL "
                    "AND request_id = ANY(:ids)").bindparams(_IDS)

    async def all_there() -> bool:
        try:
            return int((await _rows(engine, query, ids=ids))[0][0]) == len(ids)
        except Exception:  # the database may still be coming back
            return False

    with contextlib.suppress(AssertionError):  # what is missing is reported as lost
        await eventually(all_there, within=within, what="every acknowledged request recorded")


async def _settled(engine: AsyncEngine) -> None:
    """The recorder has caught up: no new lifecycle rows over a quiet interval."""
    count = sa.text("SELECT count(*) FROM lifecycle_events")

    async def quiet() -> bool:
        first = (await _rows(engine, count))[0][0]
        await asyncio.sleep(1.0)  # the quiet interval is the condition itself
        return bool(first == (await _rows(engine, count))[0][0])

    await eventually(quiet, within=30, what="the recorder to settle")


async def check(system: FaultSystem, seen: list[Seen], scenario: str) -> Report:
    """Wait for the record to catch up with what clients saw, then compare the two."""
    report = Report(scenario, seen)
    acked = report.acknowledged
    ids = [s.request_id for s in acked if s.request_id]
    engine = create_async_engine(system.database_url)
    try:
        await _wait_recorded(engine, ids, RECORDED_WITHIN_S)
        await _settled(engine)
        all_ids = [s.request_id for s in seen if s.request_id]
        requests = {r[0]: (r[1], r[2]) for r in await _rows(engine, _REQUESTS, ids=all_ids)}
        lifecycle = {r[0]: tuple(r[1:]) for r in await _rows(engine, _LIFECYCLE, ids=all_ids)}
        responded: dict[str, list[tuple[int | None, str | None]]] = {}
        for rid, status, worker in await _rows(engine, _RESPONDED, ids=all_ids):
            responded.setdefault(rid, []).append((status, worker))
        effects = {r[0]: int(r[1]) for r in await _rows(engine, _EFFECTS)}
        report.recorded = sum(1 for i in ids if requests.get(i, (None,))[0] is not None)
        report.lost = [i for i in ids if requests.get(i, (None,))[0] is None]
        report.twice = _twice(seen, requests, effects)
        report.mismatches = _mismatches(acked, requests, lifecycle, responded)
        report.ran_after_503 = [
            s.request_id for s in seen if s.status == 503 and s.request_id and (
                s.request_id in effects
                or any(st is not None and 200 <= st < 300
                       for st, _ in responded.get(s.request_id, [])))]
        report.stall_all, report.stall_by_worker = _stalls(seen, responded)
        report.replayed, report.replay_problems = await _replay(system, engine)
    finally:
        await engine.dispose()
    report.dead = system.dead()
    return report


def _twice(seen: list[Seen], requests: dict[str, tuple[Any, Any]],
           effects: dict[str, int]) -> dict[str, str]:
    out = {k: f"{v} ledger rows" for k, v in effects.items() if v > 1}
    for s in seen:
        rid = s.request_id
        if rid and (s.code == "email_taken" or requests.get(rid, (None, None))[1] == "email_taken"):
            out.setdefault(rid, f"409 email_taken (client got {s.status}): its user was "
                                "created by an earlier run")
    return out


def _mismatches(acked: list[Seen], requests: dict[str, tuple[Any, Any]],
                lifecycle: dict[str, tuple[Any, ...]],
                responded: dict[str, list[tuple[int | None, str | None]]]) -> list[str]:
    out = []
    for s in acked:
        rid = s.request_id
        assert rid is not None
        status, code = requests.get(rid, (None, None))
        if status is None:
            continue  # counted as lost, not as a mismatch
        if s.from_worker and status != s.status:
            out.append(f"{rid}: client got {s.status}, requests.status {status} ({code})")
        steps = responded.get(rid, [])
        if len(steps) != 1:
            out.append(f"{rid}: {len(steps)} 'responded' events "
                       f"{[st for st, _ in steps]}, requests.status {status}")
        elif steps[0][0] != status:
            out.append(f"{rid}: responded step says {steps[0][0]}, requests.status {status}")
        count, lo, hi, _ = lifecycle.get(rid, (0, None, None, 0))
        if count == 0 or lo != 0 or hi - lo + 1 != count:
            out.append(f"{rid}: lifecycle seq not gapless (count {count}, {lo}..{hi})")
    return out


def _stalls(seen: list[Seen], responded: dict[str, list[tuple[int | None, str | None]]]
            ) -> tuple[float, dict[str, float]]:
    ok = sorted((s for s in seen if s.ok), key=lambda s: s.done_at)
    if len(ok) < 2:
        return float("inf"), {}
    # To the run's last answer of any kind: a stall that lasts to the end still counts.
    start, end = ok[0].done_at, max(s.done_at for s in seen)
    by_worker: dict[str, list[float]] = {}
    for s in ok:
        steps = responded.get(s.request_id or "", [])
        worker = steps[-1][1] if steps else None
        if worker:
            by_worker.setdefault(worker, []).append(s.done_at)

    def longest(times: list[float]) -> float:
        points = [start, *times, end]
        return max(b - a for a, b in itertools.pairwise(points))

    return longest([s.done_at for s in ok]), {w: longest(t) for w, t in by_worker.items()}


async def _replay(system: FaultSystem, engine: AsyncEngine) -> tuple[int, list[str]]:
    """Replay every complete record of the run; (replayed, problems)."""
    from gati.cli.loader import load_app
    from gati.replay import Replayer
    from gati.store import create_engine

    ids = [r[0] for r in await _rows(engine, sa.text(
        "SELECT request_id FROM requests WHERE status IS NOT NULL AND method IS NOT NULL "
        "ORDER BY received_at"))]
    replay_engine = create_engine(system.database_url)
    try:
        batch = await Replayer(app=load_app(system.app), engine=replay_engine).replay_many(ids)
    finally:
        await replay_engine.dispose()
    problems = [f"{r.request_id}: {r.divergence.message if r.divergence else r.error}"
                for r in (*batch.diverged, *batch.failed) if r.error != "no complete record"]
    return batch.total, problems
