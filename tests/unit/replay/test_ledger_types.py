"""The replay ledger reads the record through its types: what it serves, and what it
says when the replayed code leaves the record."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gati.core.effects import CallPolicy
from gati.core.envelopes import Stage
from gati.core.record import Sleep
from gati.core.redact import Redactor
from gati.core.scope import RequestScope
from gati.errors import ReplayDivergence
from gati.replay.ledger import Divergence, ReplayEffects
from gati.replay.record import Step


class _Clock:
    def now_us(self) -> int:
        return 1


def _ledger(*details: str) -> tuple[ReplayEffects, RequestScope, list[Divergence]]:
    scope = RequestScope("r1", _Clock(), Redactor())
    steps = [Step(i, "effect", None, None, None, json.loads(d)) for i, d in enumerate(details)]
    seen: list[Divergence] = []
    return ReplayEffects(scope, steps, on_divergence=seen.append), scope, seen


def _served(scope: RequestScope) -> list[str | None]:
    return [e.detail for e in scope.events if e.stage == Stage.EFFECT]


CALL = ('{"kind":"module","module":"db","method":"get","args":["u1"],"kwargs":{},'
        '"duration_ms":1.2,"attempts":1,"result":{"id":"u1"}}')


def test_served_steps_are_the_recorded_details_marked_replayed() -> None:
    ledger, scope, _ = _ledger('{"kind":"clock","value":42}', '{"kind":"random","value":0.5}',
                               '{"kind":"uuid","value":"u-1"}', CALL)
    assert ledger.clock_us() == 42
    assert ledger.random() == 0.5
    assert ledger.uuid() == "u-1"

    async def call() -> Any:
        return await ledger.call("db", "get", ("u1",), {}, lambda: None, CallPolicy())

    assert asyncio.run(call()) == {"id": "u1"}
    assert _served(scope) == [
        '{"kind":"clock","value":42,"replayed":true}',
        '{"kind":"random","value":0.5,"replayed":true}',
        '{"kind":"uuid","value":"u-1","replayed":true}',
        CALL[:-1] + ',"replayed":true}',
    ]


def test_a_recorded_module_error_is_raised_again_as_its_class() -> None:
    ledger, scope, _ = _ledger(
        '{"kind":"module","module":"db","method":"get","args":[],"kwargs":{},"duration_ms":1,'
        '"attempts":1,"error":{"type":"KeyError","message":"x","class":"builtins.KeyError"}}')

    async def call() -> Any:
        return await ledger.call("db", "get", (), {}, lambda: None, CallPolicy())

    with pytest.raises(KeyError):
        asyncio.run(call())
    assert [e.error_code for e in scope.events] == ["module_error"]


def test_a_kind_this_version_does_not_know_is_a_divergence_that_names_it() -> None:
    ledger, _, seen = _ledger('{"kind":"http","method":"GET","url":"https://x"}')
    with pytest.raises(ReplayDivergence):
        ledger.clock_us()
    assert seen[0].message == "effect 1 (step 0): recorded a http effect, replay made a clock read"


def test_a_call_with_other_arguments_diverges_at_its_step() -> None:
    ledger, _, seen = _ledger(CALL)

    async def call() -> Any:
        return await ledger.call("db", "get", ("u2",), {}, lambda: None, CallPolicy())

    with pytest.raises(ReplayDivergence):
        asyncio.run(call())
    assert seen[0].message == ("effect 1 (step 0): recorded db.get('u1'), "
                               "replay called db.get('u2')")


def test_a_recorded_sleep_is_served_without_waiting() -> None:
    ledger, scope, seen = _ledger('{"kind":"sleep","seconds":30.0}',
                                  '{"kind":"sleep","seconds":30.0}')

    async def never() -> Sleep:
        raise AssertionError("replay must not wait")

    async def sleeps() -> None:
        await asyncio.wait_for(ledger.perform(Sleep(30.0), never), timeout=1)
        await ledger.perform(Sleep(5.0), never)

    with pytest.raises(ReplayDivergence):
        asyncio.run(sleeps())
    assert _served(scope) == ['{"kind":"sleep","seconds":30.0,"replayed":true}']
    assert seen[0].message == ("effect 2 (step 1): recorded a 30 s sleep, "
                               "replay made a 5 s sleep")
