"""One intake for worker and recorder: decode, unseal or mask, and dead letters."""

from __future__ import annotations

import base64

from gati.codec.envelopes import EnvelopeCodec
from gati.codec.intake import DeadLetters, Intake
from gati.codec.seal import PREFIX, Sealer, Sensitive
from gati.core.envelopes import RequestEnvelope
from gati.core.ports import LogRecord, SystemClock
from gati.errors import BackendUnavailable
from gati.log.memory import MemoryLog

KEY = bytes(range(32))
CODEC = EnvelopeCodec()


def _env(headers: tuple[tuple[str, str], ...]) -> RequestEnvelope:
    return RequestEnvelope("r-1", "g", "t", 0, 1, 10**18, "GET", "/", "", headers, b"")


async def test_the_handler_gets_sealed_values_opened_and_the_record_gets_tokens() -> None:
    sealer = Sealer(KEY, Sensitive())
    sealed = sealer.seal(_env((("authorization", "Bearer s3cret-token"),)))
    assert sealed.headers[0][1].startswith(PREFIX)
    intake = Intake(codec=CODEC, sealer=sealer)
    decoded = intake.request(CODEC.encode_request(sealed))
    assert (await intake.for_handler(decoded)).headers == (("authorization",
                                                           "Bearer s3cret-token"),)
    recorded = intake.for_record(await intake.json_body(decoded))
    assert "s3cret-token" not in recorded.headers[0][1]
    assert recorded.headers[0][1].startswith("Bearer ")


async def test_a_value_sealed_under_another_key_is_answered_400_not_handed_on() -> None:
    other = Sealer(bytes(32), Sensitive()).seal(_env((("cookie", "session=abcdef"),)))
    env = await Intake(sealer=Sealer(KEY, Sensitive())).for_handler(other)
    assert env.rejection is not None and env.rejection.status == 400
    assert env.rejection.code == "unseal_failed"
    assert "session=abcdef" not in env.headers[0][1]


class _Refusing(MemoryLog):
    def __init__(self, refusals: int) -> None:
        super().__init__(auto_create_partitions=1)
        self.refusals = refusals

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        if self.refusals:
            self.refusals -= 1
            raise BackendUnavailable("broker down")
        await super().send(topic, value, key=key)


class _Health:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def degrade(self, dependency: str, why: str) -> None:
        self.seen.append(f"degrade {dependency}")

    def recover(self, dependency: str) -> None:
        self.seen.append(f"recover {dependency}")


async def test_a_dead_letter_the_log_refuses_is_retried_until_it_lands() -> None:
    log, health = _Refusing(refusals=1), _Health()
    letters = DeadLetters(log, "t.deadletter", "worker", clock=SystemClock(), health=health)
    rec = LogRecord("t.requests", 0, 7, b"k", base64.b64encode(b"junk"), 0)
    await letters.park(rec, "not an envelope")
    assert letters.parked == 1
    assert health.seen == ["degrade kafka", "recover kafka"]
    [stored] = [r for p in log.topics["t.deadletter"].partitions for r in p]
    assert stored.key == b"k"
