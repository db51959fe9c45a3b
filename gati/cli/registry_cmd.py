"""``gati registry``: the Confluent-compatible schema registry over the record's database.

It reads the schema store whatever GATI_DATABASE_URL names (Postgres, or ``gati dev``'s
SQLite file) and the frame schemas of this Gati; topic subjects follow
GATI_TOPIC_PREFIX. Writes need GATI_REGISTRY_TOKEN (an environment variable, never a
flag: a flag shows in ``ps``).
"""

from __future__ import annotations

import click

from gati import config as gati_config
from gati.errors import GatiError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8081, show_default=True, type=click.IntRange(0, 65535),
              help="8081 is Confluent's default, so clients' defaults work.")
def registry(host: str, port: int) -> None:
    """Serve the schema registry API (Confluent's) for Gati's topics and schema store."""
    import asyncio
    import sys

    try:
        asyncio.run(_main(host, port))
    except GatiError as exc:
        click.echo(f"gati registry: {exc.message}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


async def _main(host: str, port: int) -> None:
    import uvicorn

    from gati.registry.mount import registry_server, registry_token
    from gati.store.store import open_store

    token = registry_token()
    settings = gati_config.from_env()
    store = await open_store(settings.database_url)
    try:
        app = registry_server(store, settings)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, lifespan="on",
                                               log_level="warning", access_log=False))
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"gati registry on http://{shown}:{port}/"
                   + ("" if token else " (read-only: no GATI_REGISTRY_TOKEN)"), err=True)
        await server.serve()
    finally:
        await store.close()
