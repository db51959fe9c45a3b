"""The recorder outlives a Postgres outage and records everything once it is back.

Postgres is made unreachable for the recorder only: it talks to the shared server through
a loopback TCP proxy this test owns. Cutting the proxy closes every open connection and
unbinds the port, so new connections are refused, which is what a client sees when the
database host goes away. The shared server itself keeps running for everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from support import eventually, free_port

from gati.codec import EnvelopeCodec
from gati.config import Settings
from gati.core.envelopes import LifecycleEvent, RequestEnvelope
from gati.log.kafka import KafkaLog
from gati.observability.health import Health, HealthServer
from gati.recorder import Recorder
from gati.store import Store, open_store

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.timeout(180)]

OUTAGE_S = 10.0
CODEC = EnvelopeCodec()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; ``cut`` makes it a dead host, ``heal`` undoes it."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def heal(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                  reuse_address=True)

    async def cut(self) -> None:
        """Unbind (new connections are refused) and reset every live connection.

        ``close`` unbinds at once; ``wait_closed`` is not awaited because, on Python
        3.11, it also waits for handler tasks this proxy ends itself.
        """
        assert self._server is not None
        self._server.close()
        self._server = None
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._pipes.update((writer, up_writer))
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, RuntimeError):
            pass
        finally:
            self._pipes.discard(writer)
            writer.transport.abort()


def _envelope(rid: str) -> RequestEnvelope:
    now = time.time_ns() // 1000
    return RequestEnvelope(rid, "gw", "t", 0, now, now + 30_000_000, "POST", "/users", "",
                           (("content-type", "application/json"),), b'{"name": "Ada"}')


def _events(rid: str) -> list[LifecycleEvent]:
    now = time.time_ns() // 1000
    stages = ["received", "routed", "handler_end", "responded"]
    return [LifecycleEvent(rid, i, stage, now + i, "users.create",
                           201 if stage == "responded" else None, None, None, "w1")
            for i, stage in enumerate(stages)]


@pytest_asyncio.fixture
async def proxy(fresh_pg_database: str) -> AsyncIterator[TcpProxy]:
    url = make_url(fresh_pg_database)
    p = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await p.heal()
    try:
        yield p
    finally:
        if p._server is not None:
            await p.cut()


async def _published(producer: KafkaLog, settings: Settings, n: int) -> list[str]:
    ids = [f"r-{uuid.uuid4().hex}" for _ in range(n)]
    for rid in ids:
        key = rid.encode()
        await producer.send(settings.requests_topic, CODEC.encode_request(_envelope(rid)), key=key)
        await producer.send(settings.lifecycle_topic,
                            CODEC.encode_batch(rid, _events(rid)), key=key)
    return ids


async def _answered(store: Store, ids: list[str]) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(
            sa.select(sa.func.count()).select_from(sa.text("requests"))
            .where(sa.text("status = 201 AND method = 'POST' AND request_id = ANY(:ids)")),
            {"ids": ids})).scalar_one())


async def _health(client: httpx.AsyncClient) -> tuple[int, dict[str, object]]:
    r = await client.get("/_gati/health")
    return r.status_code, r.json()


async def test_recorder_survives_a_postgres_outage_and_records_everything_after(
    fresh_pg_database: str, kafka_bootstrap: str, proxy: TcpProxy,
) -> None:
    direct = await open_store(fresh_pg_database, migrate_first=True)
    proxied_url = make_url(fresh_pg_database).set(host="127.0.0.1", port=proxy.port)
    store = await open_store(proxied_url.render_as_string(hide_password=False))
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"o{uuid.uuid4().hex[:8]}",
                        requests_partitions=2, recorder_batch_size=50)
    consumer_log = KafkaLog(kafka_bootstrap, client_id="outage-recorder")
    producer = KafkaLog(kafka_bootstrap, client_id="outage-producer")
    await consumer_log.start()
    await producer.start()
    health = Health()
    server = await HealthServer(health).start(port=0)
    recorder = Recorder(settings, consumer_log, store, health=health)
    task = asyncio.create_task(recorder.run())
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=5)
    try:
        await asyncio.wait_for(recorder.ready.wait(), 60)
        before = await _published(producer, settings, 20)
        await eventually(lambda: _answered(direct, before), within=60,
                         what="the first requests recorded")
        assert await _health(client) == (200, {"status": "ok", "degraded": {}})

        await proxy.cut()
        cut_at = time.monotonic()
        during = await _published(producer, settings, 20)

        async def met_outage() -> bool:
            if task.done():
                raise AssertionError(f"the recorder stopped: {task.exception()!r}")
            return recorder.stats.store_retries > 0

        await eventually(met_outage, within=30, what="the recorder to meet the outage")
        status, body = await _health(client)
        assert status == 503 and body["status"] == "degraded", body
        assert "database" in body["degraded"], body  # type: ignore[operator]
        while time.monotonic() - cut_at < OUTAGE_S:  # the outage lasts; the recorder waits
            assert not task.done(), task.exception()
            await asyncio.sleep(0.5)
        assert not task.done(), task.exception()
        await proxy.heal()

        after = await _published(producer, settings, 20)
        everything = before + during + after
        await eventually(lambda: _all(direct, everything), within=60,
                         what="every request recorded after the outage")
        await eventually(lambda: _ok(client), within=10, what="health back to ok")
        assert not task.done()
    finally:
        recorder.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
        await client.aclose()
        server.close()
        await producer.stop()
        await consumer_log.stop()
        await store.close()
        await direct.close()


async def _all(store: Store, ids: list[str]) -> bool:
    return await _answered(store, ids) == len(ids)


async def _ok(client: httpx.AsyncClient) -> bool:
    return (await _health(client))[0] == 200
