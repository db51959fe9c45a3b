"""``gati timescape``: list, tag, deactivate and diff handler versions in the registry.

Works against whatever GATI_DATABASE_URL names: Postgres in production, the SQLite file
of ``gati dev`` (``.gati/gati.db``) locally.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import click

from gati import config as gati_config
from gati.errors import GatiError
from gati.store.store import open_store
from gati.store.versions import VersionRegistry, VersionRow, compatibility

T = TypeVar("T")


def _run(work: Callable[[VersionRegistry], Awaitable[T]]) -> T:
    async def main() -> T:
        store = await open_store(gati_config.from_env().database_url)
        try:
            return await work(VersionRegistry(store.engine))
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except GatiError as exc:
        click.echo(f"gati timescape: {exc.message}", err=True)
        sys.exit(2)


@click.group()
def timescape() -> None:
    """Handler versions: list, tag, deactivate, diff."""


@timescape.command(name="list")
@click.option("--handler", default=None, help="Only this handler id.")
@click.option(
    "--hot",
    "hot_per_hour",
    default=100,
    show_default=True,
    type=click.IntRange(1),
    help="Requests in the last hour that make a version hot.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_versions(handler: str | None, hot_per_hour: int, as_json: bool) -> None:
    """Versions with tags, status, breaking verdict and usage (hot/warm/cold)."""

    async def work(reg: VersionRegistry) -> tuple[list[VersionRow], dict[Any, Any]]:
        rows = await reg.versions(handler)
        if handler is not None and not rows:
            await reg.get(handler, "-")  # raises the unknown-handler message
        return rows, await reg.usage(handler)

    rows, usage = _run(work)
    out: list[dict[str, Any]] = []
    for r in rows:
        use = usage.get((r.handler_id, r.version))
        out.append(
            {
                "handler_id": r.handler_id,
                "version": r.version,
                "tags": list(r.all_tags),
                "status": r.status,
                "breaking": r.manifest.get("breaking"),
                "requests_1h": use.last_hour if use else 0,
                "requests_24h": use.last_day if use else 0,
                "temperature": use.temperature(hot_per_hour) if use else "cold",
                "method": r.method,
                "path": r.path,
                "fingerprint": r.fingerprint,
            }
        )
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    if not out:
        click.echo("no versions registered (a worker registers its app's versions at start)")
        return
    current = None
    for item in out:
        if item["handler_id"] != current:
            current = item["handler_id"]
            click.echo(f"{current}  {item['method']} {item['path']}")
        breaking = {True: "breaking", False: "compatible", None: "unknown"}[item["breaking"]]
        tags = ",".join(item["tags"]) or "-"
        click.echo(
            f"  {item['version']:<26} {tags:<16} {item['status']:<9} {breaking:<10} "
            f"{item['temperature']:<5} {item['requests_1h']}/h {item['requests_24h']}/24h"
        )


@timescape.command()
@click.argument("handler")
@click.argument("version")
@click.argument("tag")
@click.option("--move", is_flag=True, help="Move the tag if another version has it.")
def tag(handler: str, version: str, tag: str, move: bool) -> None:
    """Add TAG to VERSION of HANDLER (requests may then ask for it by tag)."""
    label = _run(lambda reg: reg.tag(handler, version, tag, move=move))
    click.echo(f"{handler} {label} is tagged {tag}")


@timescape.command()
@click.argument("handler")
@click.argument("tag")
def untag(handler: str, tag: str) -> None:
    """Remove an operator TAG from HANDLER."""
    label = _run(lambda reg: reg.untag(handler, tag))
    click.echo(f"removed {tag} from {handler} {label}")


@timescape.command()
@click.argument("handler")
@click.argument("version")
@click.option("--force", is_flag=True, help="Also for protected tags or recent traffic.")
@click.option(
    "--recent",
    default=60,
    show_default=True,
    type=click.IntRange(0),
    help="Minutes of traffic that count as recent.",
)
def deactivate(handler: str, version: str, force: bool, recent: int) -> None:
    """Stop serving VERSION directly; its clients go through transformers if possible."""
    row = _run(
        lambda reg: reg.set_status(
            handler, version, "inactive", force=force, recent=timedelta(minutes=recent)
        )
    )
    click.echo(f"{handler} {row.version} is inactive")


@timescape.command()
@click.argument("handler")
@click.argument("version")
def activate(handler: str, version: str) -> None:
    """Serve VERSION again."""
    row = _run(lambda reg: reg.set_status(handler, version, "active"))
    click.echo(f"{handler} {row.version} is active")


@timescape.command()
@click.argument("handler")
@click.argument("old")
@click.argument("new")
def diff(handler: str, old: str, new: str) -> None:
    """Schema diff between two versions; exit 1 if NEW breaks OLD's clients."""

    async def work(reg: VersionRegistry) -> tuple[VersionRow, VersionRow]:
        return await reg.get(handler, old), await reg.get(handler, new)

    a, b = _run(work)
    click.echo(f"{handler}: {a.version} -> {b.version}")
    verdict = compatibility(handler, a, b)
    for side in ("request", "response"):
        found = verdict[side]
        if not found["compared"]:
            click.echo(f"{side}: not declared on both versions; cannot compare")
            continue
        click.echo(f"{side} ({found['mode']}):")
        click.echo("\n".join("  " + line for line in found["report"].splitlines()))
    sys.exit(1 if verdict["breaking"] else 0)
