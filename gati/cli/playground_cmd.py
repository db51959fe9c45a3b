"""``gati playground``: the web UI and JSON API over the record, on its own.

It reads whatever GATI_DATABASE_URL names (Postgres, or ``gati dev``'s SQLite file);
with ``--app`` (or GATI_APP) it can replay, against any version of that code.
"""

from __future__ import annotations

import os

import click

from gati import config as gati_config
from gati.errors import GatiError


@click.command()
@click.option("--app", "app_spec", default=lambda: os.environ.get("GATI_APP"),
              help="The app whose code replays run (module:attr or file.py). [GATI_APP]")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Beyond loopback only with GATI_PLAYGROUND_TOKEN set.")
@click.option("--port", default=8100, show_default=True, type=click.IntRange(0, 65535))
def playground(app_spec: str | None, host: str, port: int) -> None:
    """Serve the playground: list, search, inspect and replay recorded requests."""
    import asyncio
    import sys

    try:
        asyncio.run(_main(app_spec, host, port))
    except GatiError as exc:
        click.echo(f"gati playground: {exc.message}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


async def _main(app_spec: str | None, host: str, port: int) -> None:
    from gati.cli.loader import load_app
    from gati.playground import Playground, PlaygroundServer, playground_url
    from gati.playground.remote import remote_gates
    from gati.playground.server import check_bind, uvicorn_server
    from gati.store.store import open_store

    token = os.environ.get("GATI_PLAYGROUND_TOKEN") or None
    check_bind(host, token)
    settings = gati_config.from_env()
    app = load_app(app_spec) if app_spec else None
    store = await open_store(settings.database_url)
    gates = remote_gates(settings, os.environ)  # steers Kafka workers (issue 13)
    if gates is not None:
        await gates.start()
    try:
        server = uvicorn_server(PlaygroundServer(Playground(store, app=app, settings=settings,
                                                            gates=gates), token=token),
                                host, port)
        click.echo(f"gati playground on {playground_url(host, port)}"
                   + (" (token required)" if token else "")
                   + ("" if app else " (no --app: replay is off)"), err=True)
        await server.serve()
    finally:
        if gates is not None:
            await gates.stop()
        await store.close()
