"""Request ids: time-ordered UUIDv7 text, strictly increasing from one generator."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from gati.core.ids import RequestIdGenerator, request_id_time_ms


class ScriptedClock:
    """Returns the given readings in order, then repeats the last one."""

    def __init__(self, readings_us: Iterable[int]) -> None:
        self._readings = list(readings_us)
        self._i = 0

    def now_us(self) -> int:
        value = self._readings[min(self._i, len(self._readings) - 1)]
        self._i += 1
        return value


T0_US = 1_750_000_000_000_000


def _assert_strictly_increasing(ids: list[str]) -> None:
    for earlier, later in itertools.pairwise(ids):
        assert earlier < later, f"{earlier} is not before {later}"


def test_ids_within_one_millisecond_strictly_increase() -> None:
    gen = RequestIdGenerator(ScriptedClock([T0_US]))
    ids = [gen.new() for _ in range(1000)]
    _assert_strictly_increasing(ids)
    assert len(set(ids)) == 1000


def test_ids_keep_increasing_past_the_per_millisecond_counter() -> None:
    # The counter has 12 bits; 5000 ids in one millisecond must still be ordered.
    gen = RequestIdGenerator(ScriptedClock([T0_US]))
    _assert_strictly_increasing([gen.new() for _ in range(5000)])


def test_ids_keep_increasing_when_the_clock_goes_backwards() -> None:
    readings = [T0_US, T0_US - 5_000_000, T0_US - 1_000, T0_US + 1_000, T0_US - 60_000_000]
    gen = RequestIdGenerator(ScriptedClock(readings))
    _assert_strictly_increasing([gen.new() for _ in readings])


@settings(max_examples=200, deadline=None)
@given(readings=st.lists(st.integers(min_value=0, max_value=2**47 * 1000), min_size=2,
                         max_size=50))
def test_ids_strictly_increase_for_any_clock_readings(readings: list[int]) -> None:
    gen = RequestIdGenerator(ScriptedClock(readings))
    ids = [gen.new() for _ in readings]
    _assert_strictly_increasing(ids)
    # The string order is the UUID's numeric order, so SQL and Kafka keys agree.
    assert [uuid.UUID(i).int for i in ids] == sorted(uuid.UUID(i).int for i in ids)


@settings(max_examples=50, deadline=None)
@given(now_us=st.integers(min_value=0, max_value=2**47 * 1000), n=st.integers(1, 20))
def test_ids_are_rfc9562_uuid_v7(now_us: int, n: int) -> None:
    gen = RequestIdGenerator(ScriptedClock([now_us]))
    for _ in range(n):
        parsed = uuid.UUID(gen.new())
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


@settings(max_examples=200, deadline=None)
@given(now_us=st.integers(min_value=0, max_value=(2**48 - 1) * 1000 + 999))
def test_request_id_time_round_trips_the_clock(now_us: int) -> None:
    gen = RequestIdGenerator(ScriptedClock([now_us]))
    assert request_id_time_ms(gen.new()) == now_us // 1000


def test_random_part_comes_from_the_injected_source() -> None:
    a = RequestIdGenerator(ScriptedClock([T0_US]), random_bytes=lambda n: b"\x00" * n).new()
    b = RequestIdGenerator(ScriptedClock([T0_US]), random_bytes=lambda n: b"\x00" * n).new()
    c = RequestIdGenerator(ScriptedClock([T0_US]), random_bytes=lambda n: b"\xff" * n).new()
    assert a == b
    assert a != c
