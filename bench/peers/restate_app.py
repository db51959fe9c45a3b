"""Peer 6a: ``handler.work`` as a Restate service with one journaled step.

    <peers venv>/bin/python -m bench.peers.restate_app --port S

Serves the Restate endpoint over HTTP/2 with hypercorn (what the SDK documents); the
Restate server (``@restatedev/restate-server`` from npm) is the HTTP ingress the load
generator calls (``POST /Bench/price``), and it journals the invocation and the step's
result in its own log before answering.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import restate
from hypercorn.asyncio import serve
from hypercorn.config import Config

from bench.peers.handler import work

bench = restate.Service("Bench")


@bench.handler()
async def price(ctx: restate.Context, order: dict[str, Any]) -> dict[str, Any]:
    return await ctx.run_typed("work", work, restate.RunOptions(), order)


app = restate.app(services=[bench])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    config = Config()
    config.bind = [f"127.0.0.1:{args.port}"]
    config.h2_max_concurrent_streams = 1000
    config.loglevel = "WARNING"
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
