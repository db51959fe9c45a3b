"""Peer 5: ``handler.work`` as a one-step DBOS durable workflow behind the same ASGI
server (uvicorn, plain ASGI), its system database on the same Postgres.

    <peers venv>/bin/python -m bench.peers.dbos_app --port P --database-url postgresql://...

DBOS checkpoints the workflow's input, the step's output and the workflow's result in
its system database before the HTTP answer goes out. It runs in its own virtualenv
(``bench/run_peers.py`` makes it): DBOS needs croniter >= 6.2.4, faust's ``mode`` < 6.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import uvicorn
from dbos import DBOS, DBOSConfig

from bench.peers.asgi import Receive, Send, lifespan, read_body, respond
from bench.peers.handler import work


@DBOS.step()
async def price_step(order: dict[str, Any]) -> dict[str, Any]:
    return work(order)


@DBOS.workflow()
async def price_workflow(order: dict[str, Any]) -> dict[str, Any]:
    return await price_step(order)


class DbosApp:
    def __init__(self, database_url: str) -> None:
        self.config: DBOSConfig = {
            "name": "gati-bench-peers",
            "system_database_url": database_url,
            "log_level": "WARNING",
        }

    async def start(self) -> None:
        DBOS(config=self.config)
        await asyncio.to_thread(DBOS.launch)

    async def stop(self) -> None:
        await asyncio.to_thread(DBOS.destroy)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self.start, self.stop)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/health":
            await respond(send, 200, b'{"status":"ok"}')
            return
        try:
            order = json.loads(await read_body(receive))
            result = await price_workflow(order)
        except (ValueError, KeyError, TypeError) as exc:
            await respond(send, 400, json.dumps({"error": str(exc)}).encode())
            return
        await respond(send, 200, json.dumps(result, separators=(",", ":")).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True, help="DBOS system database (libpq)")
    args = parser.parse_args()
    config = uvicorn.Config(
        DbosApp(args.database_url),
        host="127.0.0.1",
        port=args.port,
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
