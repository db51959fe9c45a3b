"""``gati replay``: re-run one recorded request, or a window of them, and compare.

Exit status: 0 identical, 1 diverged (or failed to replay), 2 bad arguments.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from gati import config as gati_config
from gati.errors import GatiError

if TYPE_CHECKING:
    from gati.replay import BatchResult

_AGO = re.compile(r"^(\d+)([smhd])$")


def parse_when(text: str) -> datetime:
    """``2026-11-24T10:00:00Z``, ``2026-11-24``, or an age such as ``15m``, ``2h``, ``1d``."""
    m = _AGO.match(text.strip())
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(m.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO date-time or an age like 15m, 2h, "
                                 "1d") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command()
@click.argument("request_id", required=False)
@click.option("--app", "app_spec", default=lambda: os.environ.get("GATI_APP"),
              help="The app (module:attr or file.py). [GATI_APP]")
@click.option("--version", "version", default=None,
              help="Serve with this version (tag or date) as the live system would serve the "
                   "client: the request up through the transformers, the response down.")
@click.option("--raw", is_flag=True,
              help="With --version: hand the recorded request to it as it is, untransformed.")
@click.option("--at", "at", type=click.IntRange(0), default=None,
              help="Restore the snapshot at lifecycle step N and continue from there.")
@click.option("--live", is_flag=True, help="Call real modules (refused in production).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@click.option("--since", default=None, help="Batch: requests received at or after this.")
@click.option("--until", default=None, help="Batch: before this.")
@click.option("--handler", default=None, help="Batch: only this handler id.")
@click.option("--file", "record_file", default=None, type=click.Path(dir_okay=False),
              help="Replay a record exported by the playground, offline: no store needed.")
def replay(request_id: str | None, app_spec: str | None, version: str | None, raw: bool,
           at: int | None, live: bool, as_json: bool, since: str | None, until: str | None,
           handler: str | None, record_file: str | None) -> None:
    """Re-execute REQUEST_ID (or a window with --since) from the record and compare."""
    if not app_spec:
        raise click.UsageError("which app? give --app module:attr or set GATI_APP")
    if record_file is not None:
        _replay_file(record_file, app_spec, _Against(version, raw), at, as_json,
                     named=request_id is not None or since is not None or live)
    if (request_id is None) == (since is None):
        raise click.UsageError("give a REQUEST_ID or --since (a window), not both")
    if request_id is None and at is not None:
        raise click.UsageError("--at applies to one request")
    if raw and version is None:
        raise click.UsageError("--raw applies to a replay against another version (--version)")
    window = (parse_when(since), parse_when(until) if until else None) if since else None
    try:
        code = asyncio.run(_main(request_id, app_spec, _Against(version, raw), at, live,
                                 as_json, window, handler))
    except GatiError as exc:
        click.echo(f"gati replay: {exc.message}", err=True)
        sys.exit(2)
    sys.exit(code)


def _replay_file(path: str, app_spec: str, against: _Against, at: int | None, as_json: bool,
                 *, named: bool) -> None:
    """``--file``: the exported record is the whole input; the store is never opened."""
    from gati.playground.records import replay_document

    if named:
        raise click.UsageError("--file replays the request in the file: no REQUEST_ID, "
                               "--since or --live with it")
    if against.raw and against.version is None:
        raise click.UsageError("--raw applies to a replay against another version (--version)")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        result = asyncio.run(replay_document(app_spec, data, version=against.version,
                                             raw=against.raw, at=at))
    except OSError as exc:
        click.echo(f"gati replay: cannot read {path}: {exc.strerror}", err=True)
        sys.exit(2)
    except GatiError as exc:
        click.echo(f"gati replay: {path}: {exc.message}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        _render(result, side_by_side=against.version is not None)
    sys.exit(0 if result.identical else 1)


@dataclass(frozen=True, slots=True)
class _Against:
    """The version to replay against (None: the recorded one), and whether raw."""

    version: str | None
    raw: bool


async def _main(request_id: str | None, app_spec: str, against: _Against, at: int | None,
                live: bool, as_json: bool, window: tuple[datetime, datetime | None] | None,
                handler: str | None) -> int:
    from gati.cli.loader import load_app
    from gati.replay import Replayer, ReplayResult
    from gati.store.store import open_store
    from gati.worker.runtime import WorkerRuntime

    settings = gati_config.from_env()
    app = load_app(app_spec)
    store = await open_store(settings.database_url)
    runtime = WorkerRuntime(app, settings) if live else None
    try:
        live_modules = None
        if runtime is not None:
            if settings.environment == "production":
                raise GatiError("--live calls real modules and is refused in production; set "
                                "GATI_ENVIRONMENT=development (or staging) to allow it")
            await runtime.start()
            live_modules = runtime.module_instances
        replayer = Replayer(app=app, engine=store.engine, version=against.version,
                            raw=against.raw, live=live, settings=settings,
                            live_modules=live_modules)
        if request_id is not None:
            result = await replayer.replay(request_id, at=at)
            if as_json:
                click.echo(json.dumps(result.to_json(), indent=2))
            else:
                _render(result, side_by_side=against.version is not None)
            return 0 if result.identical else 1
        assert window is not None
        shown = [0]

        def progress(r: ReplayResult) -> None:
            shown[0] += 1
            if not as_json and sys.stderr.isatty() and shown[0] % 100 == 0:
                click.echo(f"\r  replayed {shown[0]}", err=True, nl=False)

        batch = await replayer.replay_many(since=window[0], until=window[1], handler=handler,
                                           on_progress=progress)
        _render_batch(batch, as_json=as_json)
        return 0 if batch.ok else 1
    finally:
        if runtime is not None:
            await runtime.close()
        await store.close()


def _render_batch(batch: BatchResult, *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({
            "total": batch.total, "identical": len(batch.identical),
            "diverged": [r.to_json() for r in batch.diverged],
            "failed": [{"request_id": r.request_id, "error": r.error} for r in batch.failed],
            "duration_s": round(batch.duration_s, 3), "rate_per_s": round(batch.rate_per_s, 1),
        }, indent=2))
        return
    click.echo(f"replayed {batch.total} requests in {batch.duration_s:.2f}s "
               f"({batch.rate_per_s:.0f}/s): {len(batch.identical)} identical, "
               f"{len(batch.diverged)} diverged, {len(batch.failed)} failed")
    for r in batch.diverged[:20]:
        assert r.divergence is not None
        click.echo(f"  DIVERGED {r.request_id}: {r.divergence.message}")
    for r in batch.failed[:20]:
        click.echo(f"  FAILED   {r.request_id}: {r.error}")


def _render(result: Any, *, side_by_side: bool) -> None:
    head = (f"request {result.request_id}: recorded {result.recorded_status} "
            f"(version {result.recorded_version}), replay {result.replayed_status} "
            f"(version {result.replayed_version}) in {result.duration_ms:.1f} ms")
    click.echo(head)
    if result.error:
        click.echo(f"FAILED: {result.error}")
        return
    if result.identical:
        click.echo(f"identical: {len(result.recorded_trace)} steps and the response match")
        return
    click.echo(f"DIVERGED: {result.divergence.message}")
    if side_by_side:
        width = 48
        click.echo(f"\n{'recorded':<{width}} | replay")
        rows = max(len(result.recorded_trace), len(result.replayed_trace))
        for i in range(rows):
            a = result.recorded_trace[i] if i < len(result.recorded_trace) else ""
            b = result.replayed_trace[i] if i < len(result.replayed_trace) else ""
            mark = " " if a == b else "*"
            click.echo(f"{a[:width]:<{width}} {mark} {b[:width]}")
        click.echo(f"\nrecorded body: {_text(result.recorded_body)}")
        click.echo(f"replay body:   {_text(result.replayed_body)}")


def _text(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    return text if len(text) <= 300 else text[:297] + "..."
