"""Time-ordered request ids.

UUIDv7 (RFC 9562) text: 48 bits of milliseconds first, so ids sort by arrival in SQL and
in Kafka keys, and a 12-bit counter keeps ids from one generator strictly increasing
within a millisecond. Randomness and time are injected so tests and replay can fix them.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable

from gati.core.ports import Clock, SystemClock


class RequestIdGenerator:
    def __init__(
        self, clock: Clock | None = None, random_bytes: Callable[[int], bytes] = os.urandom
    ) -> None:
        self._clock = clock or SystemClock()
        self._random = random_bytes
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def new(self) -> str:
        with self._lock:
            ms = self._clock.now_us() // 1000
            if ms <= self._last_ms:
                ms = self._last_ms
                self._counter += 1
                if self._counter > 0xFFF:
                    # Counter exhausted: borrow the next millisecond rather than repeat.
                    ms += 1
                    self._counter = 0
            else:
                self._counter = 0
            self._last_ms = ms
            counter = self._counter
        tail = int.from_bytes(self._random(8), "big") & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76  # version 7
        value |= counter << 64
        value |= 0b10 << 62  # RFC 4122 variant
        value |= tail
        return str(uuid.UUID(int=value))


def request_id_time_ms(request_id: str) -> int:
    """The millisecond timestamp embedded in a request id."""
    return uuid.UUID(request_id).int >> 80
