"""A clock a test controls, so ``lctx.now()`` and every event time are reproducible."""

from __future__ import annotations

import threading

# 2026-01-01T00:00:00Z: a round, recognisable "now" for tests that do not pick one.
DEFAULT_START_US = 1_767_225_600_000_000


class FixedClock:
    """Returns ``start_us``, then ``step_us`` later on every read.

    ``step_us=0`` (the default) freezes time. A positive step makes consecutive reads
    distinct, still identically on every run. Implements the ``gati.core.ports.Clock``
    port, so a pipeline, an ``lctx`` and the request-id generator all read it.

    Args:
        start_us: the first reading, Unix epoch microseconds.
        step_us: how far each reading moves the clock on.
    """

    def __init__(self, start_us: int = DEFAULT_START_US, step_us: int = 0) -> None:
        if step_us < 0:
            raise ValueError(f"step_us must not be negative, got {step_us}")
        self.step_us = step_us
        self._now = start_us
        # Sync handlers run in threads and read the clock through lctx.now().
        self._lock = threading.Lock()

    def now_us(self) -> int:
        with self._lock:
            value = self._now
            self._now += self.step_us
            return value

    @property
    def current_us(self) -> int:
        """The next reading, without taking it (so without stepping)."""
        return self._now

    def advance(self, us: int = 0, *, seconds: float = 0.0) -> None:
        """Move time forward by ``us`` microseconds plus ``seconds``."""
        delta = us + round(seconds * 1_000_000)
        if delta < 0:
            raise ValueError("a FixedClock does not go backwards; use set()")
        with self._lock:
            self._now += delta

    def set(self, now_us: int) -> None:
        """Jump to ``now_us`` (either direction)."""
        with self._lock:
            self._now = now_us

    def __repr__(self) -> str:
        return f"FixedClock(current_us={self._now}, step_us={self.step_us})"
