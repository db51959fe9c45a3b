"""A worker turns a typed (Avro) body back into the client's JSON before anything runs,
and answers, rather than guesses, when it cannot."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.codec.envelopes import EnvelopeCodec
from gati.config import Settings
from gati.core.envelopes import RequestEnvelope
from gati.core.ports import LogRecord, SystemClock
from gati.gateway.bodies import TypedBodies
from gati.log.memory import MemoryLog
from gati.store.schemas import SchemaStore
from gati.store.store import open_store
from gati.store.versions import VersionRegistry
from gati.worker.processor import Processor
from gati.worker.runtime import WorkerRuntime

CODEC = EnvelopeCodec()


@dataclass
class Greeting:
    name: str
    times: int


app = App("greeter")


@app.post("/greet", request=Greeting)
async def greet(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    body: Greeting = req.body
    res.json({"text": " ".join([f"hi {body.name}"] * body.times)})


async def _answer(processor: Processor, log: MemoryLog, body: bytes,
                  schema_id: int | None) -> tuple[int, dict[str, object]]:
    now = SystemClock().now_us()
    env = RequestEnvelope("r1", "g", "t.replies.g", 0, now, now + 5_000_000, "POST", "/greet",
                          "", (("content-type", "application/json"),), body,
                          body_schema=schema_id)
    await processor.handle(LogRecord("t.requests", 0, 0, b"r1", CODEC.encode_request(env), 0))
    replies = [r for p in log.topics["t.replies.g"].partitions for r in p]
    reply = CODEC.decode_response(replies[-1].value)
    return reply.status, json.loads(reply.body)


async def test_the_handler_gets_the_typed_body_and_an_unknown_schema_is_answered(
    tmp_path: Path,
) -> None:
    settings = Settings(topic_prefix="t", worker_id="w",
                        database_url=f"sqlite+aiosqlite:///{tmp_path}/g.db")
    store = await open_store(settings.database_url, migrate_first=True)
    runtime = WorkerRuntime(app, settings, sources=[])
    pipeline = await runtime.start(VersionRegistry(store.engine))
    log = MemoryLog(auto_create_partitions=1)
    processor = Processor(settings, pipeline, log, clock=SystemClock(), bodies=runtime.bodies)
    try:
        typed = await TypedBodies.register(app, SchemaStore(store.engine).ensure)
        encoded = typed.encode("POST", "/greet", None, "application/json",
                               b'{"name": "Ada", "times": 2}')
        assert encoded is not None
        assert await _answer(processor, log, encoded[1], encoded[0]) == (
            200, {"text": "hi Ada hi Ada"})
        # A gateway on newer code named a schema this deployment never stored.
        status, body = await _answer(processor, log, encoded[1], 424242)
        assert status == 500
        assert body["error"]["code"] == "body_schema_unknown"  # type: ignore[index]
        # Bytes that are not a value of the named schema are answered, not guessed at.
        status, body = await _answer(processor, log, b"\xff\xff\xff", encoded[0])
        assert status == 500
        assert "cannot decode" in body["error"]["message"]  # type: ignore[index]
    finally:
        await runtime.close()
        await store.close()
