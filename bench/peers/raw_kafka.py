"""Peer 2: request-reply over Kafka with bare aiokafka, the limit for Gati's path.

    python -m bench.peers.raw_kafka gateway --port P --prefix X
    python -m bench.peers.raw_kafka worker --prefix X

The gateway (a plain ASGI app in uvicorn, like ``gati gateway``) appends the raw body to
``X.requests`` keyed by a fresh id and waits for the reply on ``X.replies``, read by one
group-less consumer from the end. The worker is one group consumer: per fetched batch it
runs ``handler.work`` on every record, appends the replies, waits for their acks, then
commits the offsets (at least once, like Gati). Producers use Gati's settings
(idempotent, ``acks=all``, ``linger_ms=0``), so the difference from Gati is what Gati adds:
Avro envelopes, lifecycle events, routing, contexts, faust and the recorder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import uuid
from typing import Any

import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bench.peers.asgi import Receive, Send, lifespan, read_body, respond
from bench.peers.handler import work_bytes

PARTITIONS = 4
TIMEOUT_S = 30.0


def _producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=0
    )


async def ensure_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(name, parts, 1)
            for name, parts in ((f"{prefix}.requests", PARTITIONS), (f"{prefix}.replies", 1))
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
            for _ in range(100):  # until every partition has a leader
                described = await admin.describe_topics([t.name for t in new])
                if all(
                    t.get("partitions") and all(p.get("leader", -1) >= 0 for p in t["partitions"])
                    for t in described
                ):
                    break
                await asyncio.sleep(0.05)
    finally:
        await admin.close()


class RawGateway:
    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.requests = f"{prefix}.requests"
        self.replies = f"{prefix}.replies"
        self.prefix = prefix
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.waiting: dict[bytes, asyncio.Future[tuple[int, bytes]]] = {}
        self.reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await ensure_topics(self.bootstrap, self.prefix)
        self.producer = _producer(self.bootstrap)
        await self.producer.start()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
        )
        await self.consumer.start()
        tp = TopicPartition(self.replies, 0)
        self.consumer.assign([tp])
        await self.consumer.seek_to_end(tp)
        await self.consumer.position(tp)
        self.reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
        for client in (self.consumer, self.producer):
            if client is not None:
                await client.stop()

    async def _read(self) -> None:
        assert self.consumer is not None
        while True:
            batches = await self.consumer.getmany(timeout_ms=500, max_records=1000)
            for records in batches.values():
                for rec in records:
                    fut = self.waiting.pop(rec.key or b"", None)
                    if fut is not None and not fut.done():
                        status = int(dict(rec.headers).get("status", b"200"))
                        fut.set_result((status, rec.value or b""))

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self.start, self.stop)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/health":
            await respond(send, 200, b'{"status":"ok"}')
            return
        assert self.producer is not None
        body = await read_body(receive)
        rid = uuid.uuid4().hex.encode()
        fut: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self.waiting[rid] = fut
        try:
            await self.producer.send_and_wait(self.requests, body, key=rid)
            status, reply = await asyncio.wait_for(fut, TIMEOUT_S)
        except TimeoutError:
            status, reply = 504, b'{"error":"timeout"}'
        finally:
            self.waiting.pop(rid, None)
        await respond(send, status, reply)


async def run_worker(bootstrap: str, prefix: str) -> None:
    await ensure_topics(bootstrap, prefix)
    producer = _producer(bootstrap)
    consumer = AIOKafkaConsumer(
        f"{prefix}.requests",
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}-worker",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    await producer.start()
    await consumer.start()
    replies = f"{prefix}.replies"
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            acks = []
            for records in batches.values():
                for rec in records:
                    status, body = work_bytes(rec.value or b"")
                    acks.append(
                        await producer.send(
                            replies, body, key=rec.key, headers=[("status", str(status).encode())]
                        )
                    )
            if acks:
                await asyncio.gather(*acks)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["gateway", "worker"])
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    if args.role == "worker":
        asyncio.run(run_worker(args.bootstrap, args.prefix))
        return
    config = uvicorn.Config(
        RawGateway(args.bootstrap, args.prefix),
        host="127.0.0.1",
        port=args.port,
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
