"""The typed record: each effect kind's detail, written and read back.

The detail JSON is users' data (records written by earlier versions must replay), so
the format tests below pin the exact text the live ledger records for each kind: a
change to a kind's ``to_detail`` that moves, renames or drops a key fails here.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from gati.core.effects import CallPolicy, LiveEffects
from gati.core.envelopes import Stage
from gati.core.record import (
    CallIntent,
    ClockRead,
    Effect,
    LogLine,
    ModuleCall,
    RandomDraw,
    RecordedError,
    SecretLookup,
    Sleep,
    UnknownEffect,
    UuidDraw,
    effect_from_detail,
)
from gati.core.redact import Masker, Redactor, Secret
from gati.core.scope import RequestScope
from gati.errors import GatiError

NOW_US = 1_750_000_000_000_000


class _Clock:
    def now_us(self) -> int:
        return NOW_US


def _scope(key: bytes | None = None) -> RequestScope:
    return RequestScope("r1", _Clock(), Redactor(Masker(key)))


# What each kind records today, as text: the format every stored record has.
EXAMPLES: list[tuple[Effect, str]] = [
    (ClockRead(NOW_US), '{"kind":"clock","value":1750000000000000}'),
    (RandomDraw(0.25), '{"kind":"random","value":0.25}'),
    (UuidDraw("0b6b4c1e-8d6f-4f43-9a3e-1d2c3b4a5f60"),
     '{"kind":"uuid","value":"0b6b4c1e-8d6f-4f43-9a3e-1d2c3b4a5f60"}'),
    (SecretLookup("API_KEY", found=True, mask="[REDACTED]"),
     '{"kind":"secret","name":"API_KEY","found":true,"mask":"[REDACTED]"}'),
    (SecretLookup("MISSING", found=False), '{"kind":"secret","name":"MISSING","found":false}'),
    (ModuleCall("db", "get", ("u1", 2), {"full": True}, duration_ms=1.5, attempts=1,
                result={"id": "u1"}),
     '{"kind":"module","module":"db","method":"get","args":["u1",2],"kwargs":{"full":true},'
     '"duration_ms":1.5,"attempts":1,"result":{"id":"u1"}}'),
    (ModuleCall("db", "get", (), {}, duration_ms=0.2, attempts=2, result=None),
     '{"kind":"module","module":"db","method":"get","args":[],"kwargs":{},'
     '"duration_ms":0.2,"attempts":2,"result":null}'),
    (ModuleCall("mail", "send", ("a@b",), {}, duration_ms=3.0, attempts=1,
                error=RecordedError("ValueError", "bad address", "builtins.ValueError")),
     '{"kind":"module","module":"mail","method":"send","args":["a@b"],"kwargs":{},'
     '"duration_ms":3.0,"attempts":1,"error":{"type":"ValueError","message":"bad address",'
     '"class":"builtins.ValueError"}}'),
    (Sleep(0.25), '{"kind":"sleep","seconds":0.25}'),
    # A call failed closed on resumption: never made, so never timed.
    (ModuleCall("ledger", "append", ("r1",), {}, attempts=0,
                error=RecordedError("EffectOutcomeUnknown", "in progress",
                                    "gati.core.effects.EffectOutcomeUnknown")),
     '{"kind":"module","module":"ledger","method":"append","args":["r1"],"kwargs":{},'
     '"attempts":0,"error":{"type":"EffectOutcomeUnknown","message":"in progress",'
     '"class":"gati.core.effects.EffectOutcomeUnknown"}}'),
]


def _text(detail: dict[str, Any]) -> str:
    return json.dumps(detail, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(("effect", "text"), EXAMPLES, ids=lambda v: getattr(v, "kind", ""))
def test_each_kind_writes_todays_detail_text(effect: Effect, text: str) -> None:
    assert _text(effect.to_detail()) == text
    assert _scope().record(Stage.EFFECT, detail=effect.to_detail()).detail == text


@pytest.mark.parametrize(("effect", "text"), EXAMPLES, ids=lambda v: getattr(v, "kind", ""))
def test_each_kind_reads_back_as_itself(effect: Effect, text: str) -> None:
    loaded = effect_from_detail(json.loads(text))
    assert type(loaded) is type(effect)
    assert loaded == effect
    assert _text(loaded.to_detail()) == text


@pytest.mark.parametrize(("effect", "text"), EXAMPLES, ids=lambda v: getattr(v, "kind", ""))
def test_a_served_step_is_the_recorded_detail_and_its_mark(effect: Effect, text: str) -> None:
    recorded = json.loads(text)
    served = effect_from_detail(recorded).served("replayed")
    assert _text(served.to_detail()) == _text({**recorded, "replayed": True})
    assert served.is_served and not effect.is_served
    # A journal-served step replayed later keeps both marks, in order.
    again = effect_from_detail(json.loads(_text(
        effect_from_detail(recorded).served("from_journal").to_detail()))).served("replayed")
    assert list(again.to_detail())[-2:] == ["from_journal", "replayed"]


@pytest.mark.parametrize("detail", [
    {"kind": "http", "method": "GET", "url": "https://example.com", "status": 200},
    {"kind": "module", "method": "get"},  # lacks its module: read, not understood
    {"kind": "clock"},
    {"truncated": True, "head": '{"kind":"module","module":"db"'},  # an oversized detail
    {},
])
def test_unknown_or_unreadable_details_survive_as_they_were(detail: dict[str, Any]) -> None:
    loaded = effect_from_detail(detail)
    assert isinstance(loaded, UnknownEffect)
    assert _text(loaded.to_detail()) == _text(detail)
    assert loaded.describe() == f"a {detail.get('kind')} effect"
    assert _text(loaded.served("replayed").to_detail()) == _text({**detail, "replayed": True})


def test_keys_a_kind_does_not_define_ride_along() -> None:
    # A later version's extra key must not be lost when this version serves the step.
    text = '{"kind":"clock","value":5,"source":"ntp"}'
    loaded = effect_from_detail(json.loads(text))
    assert loaded == ClockRead(5, extra={"source": "ntp"})
    assert _text(loaded.to_detail()) == text


def test_descriptions_name_each_kind() -> None:
    assert [e.describe() for e, _ in EXAMPLES[:5]] == [
        "a clock read", "a random draw", "a uuid", "secret 'API_KEY'", "secret 'MISSING'"]
    assert EXAMPLES[5][0].describe() == "db.get('u1', 2, full=True)"


def test_call_intent_and_log_line_details() -> None:
    intent = CallIntent("db", "put", ("k", 1), {"ttl": 5})
    assert _text(intent.to_detail()) == '{"module":"db","method":"put","args":["k",1],' \
                                        '"kwargs":{"ttl":5}}'
    assert CallIntent.from_detail(intent.to_detail()) == intent
    line = LogLine("info", "hello", {"user": "u1"})
    assert _text(line.to_detail()) == '{"level":"info","message":"hello","user":"u1"}'
    assert LogLine.from_detail(line.to_detail()) == line


# The live ledger writes exactly these texts.

@pytest.fixture
def fixed_timer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    ticks = iter([10.0, 10.0015] * 10)
    monkeypatch.setattr("gati.core.effects.time.perf_counter", lambda: next(ticks))
    yield


def _details(scope: RequestScope) -> list[str]:
    return [e.detail or "" for e in scope.events if e.stage == Stage.EFFECT]


def test_live_ledger_records_clock_random_uuid_and_secrets_in_todays_format() -> None:
    scope = _scope()
    live = LiveEffects(scope, random.Random(7))
    live.clock_us()
    draw = live.random()
    ident = live.uuid()
    redactor = scope.redactor
    live.secret("K", lambda: Secret("K", "a-long-secret-value", redactor))

    def missing() -> Secret:
        raise GatiError("no such secret")

    with pytest.raises(GatiError):
        live.secret("NOPE", missing)
    assert _details(scope) == [
        '{"kind":"clock","value":1750000000000000}',
        f'{{"kind":"random","value":{draw!r}}}',
        f'{{"kind":"uuid","value":"{ident}"}}',
        '{"kind":"secret","name":"K","found":true,"mask":"[REDACTED]"}',
        '{"kind":"secret","name":"NOPE","found":false}',
    ]


def test_live_ledger_records_module_calls_in_todays_format(fixed_timer: None) -> None:
    scope = _scope()
    live = LiveEffects(scope)
    policy = CallPolicy(timeout_s=None)

    async def calls() -> None:
        await live.call("db", "get", ("u1",), {"full": True}, lambda: {"id": "u1"}, policy)
        with pytest.raises(KeyError):
            await live.call("db", "get", ("u2",), {}, lambda: {}["x"], policy)

    asyncio.run(calls())
    assert _details(scope) == [
        '{"kind":"module","module":"db","method":"get","args":["u1"],"kwargs":{"full":true},'
        '"duration_ms":1.5,"attempts":1,"result":{"id":"u1"}}',
        '{"kind":"module","module":"db","method":"get","args":["u2"],"kwargs":{},'
        '"duration_ms":1.5,"attempts":1,"error":{"type":"KeyError","message":"\'x\'",'
        '"class":"builtins.KeyError"}}',
    ]
    assert [e.error_code for e in scope.events] == [None, "module_error"]


def test_lctx_sleep_waits_and_is_recorded() -> None:
    from gati.core.context import LocalContext, RequestMeta

    scope = _scope()
    lctx = LocalContext(RequestMeta("r1", "GET", "/", None, 0, 0), scope, LiveEffects(scope))
    asyncio.run(lctx.sleep(0))
    with pytest.raises(GatiError):
        asyncio.run(lctx.sleep(-1))
    assert _details(scope) == ['{"kind":"sleep","seconds":0.0}']


@pytest.mark.parametrize(("effect", "text"), EXAMPLES, ids=lambda v: getattr(v, "kind", ""))
def test_gati_history_has_a_line_of_its_own_for_every_kind(effect: Effect, text: str) -> None:
    # A kind left out of effect_summary's table falls back to its raw detail.
    from gati.cli.render import compact, effect_summary

    assert effect_summary(effect) != f"{effect.kind} → {compact(effect.to_detail())}"


def test_a_sleep_renders_as_its_wait() -> None:
    from gati.cli.render import effect_summary

    assert effect_summary(Sleep(1.5)) == "slept 1.5 s"
