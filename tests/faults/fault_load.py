"""Bounded load at a fixed rate, and what each client saw.

Each request starts on its own schedule (``i / rate`` seconds after the start, whatever
the earlier ones are doing), so a stalled system sees the offered load pile up as it
would from real clients, and the count and duration are bounded either way.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import httpx
from harness import REQUEST_TIMEOUT_S

# The gateway's own refusals: the request was not accepted by the log (or says so).
NOT_ACCEPTED = frozenset({"log_unavailable", "overloaded", "starting"})
GATEWAY_TIMEOUT = "gateway_timeout"


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as its client saw it. Times are seconds since the load started."""

    n: int
    sent_at: float
    done_at: float
    status: int | None = None
    request_id: str | None = None
    code: str | None = None
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def refused(self) -> bool:
        """503 from the gateway saying the log did not take it."""
        return self.status == 503 and self.code in NOT_ACCEPTED

    @property
    def acknowledged(self) -> bool:
        """Any HTTP answer but a refusal: the log had taken the request."""
        return self.answered and not self.refused

    @property
    def from_worker(self) -> bool:
        """Answered with the worker's reply, not the gateway's own 504 or 503."""
        return self.acknowledged and self.code != GATEWAY_TIMEOUT

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Load:
    """``rate`` requests/s of ``POST /orders`` for ``duration`` s (at most ``count``)."""

    base_url: str
    rate: float = 60.0
    duration: float = 20.0
    path: str = "/orders"
    seen: list[Seen] = field(default_factory=list)
    started: float = 0.0
    _task: asyncio.Task[None] | None = None

    @property
    def count(self) -> int:
        return int(self.rate * self.duration)

    def now(self) -> float:
        return time.monotonic() - self.started

    def start(self) -> Load:
        self.started = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def finish(self) -> list[Seen]:
        """Every request's outcome, once the last one is answered or timed out."""
        assert self._task is not None, "start() first"
        await self._task
        return sorted(self.seen, key=lambda s: s.n)

    def ok_count(self) -> int:
        return sum(1 for s in self.seen if s.ok)

    async def wait_ok(self, n: int, within: float = 60.0) -> None:
        """Until ``n`` requests have been answered 2xx (the system is serving)."""
        deadline = time.monotonic() + within
        while self.ok_count() < n:
            if time.monotonic() > deadline or (self._task is not None and self._task.done()):
                raise AssertionError(f"only {self.ok_count()} of {n} requests answered 2xx "
                                     f"within {within}s: the system was not serving")
            await asyncio.sleep(0.05)

    async def until(self, t: float) -> None:
        """The schedule: resume when the load has run ``t`` seconds (a fault's length)."""
        await asyncio.sleep(max(0.0, t - self.now()))

    async def _run(self) -> None:
        # Idle connections expire before the gateway's (uvicorn: 5 s) keep-alive does;
        # at equal expiries a request races the server's close and reads a reset.
        limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200,
                              keepalive_expiry=2.0)
        timeout = httpx.Timeout(REQUEST_TIMEOUT_S + 10, connect=5)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=timeout,
                                     limits=limits) as client:
            tasks = []
            for n in range(self.count):
                await self.until(n / self.rate)
                tasks.append(asyncio.create_task(self._one(client, n)))
            await asyncio.gather(*tasks)

    async def _one(self, client: httpx.AsyncClient, n: int) -> None:
        sent = self.now()
        body = {"name": f"fault {n}", "email": f"{uuid.uuid4().hex}@faults.example"}
        try:
            response = await client.post(self.path, json=body)
        except httpx.HTTPError as exc:  # refused, reset, or no answer in time
            self.seen.append(Seen(n, sent, self.now(), error=type(exc).__name__))
            return
        self.seen.append(Seen(n, sent, self.now(), response.status_code,
                              response.headers.get("x-request-id"), _code(response)))


def _code(response: httpx.Response) -> str | None:
    if response.status_code < 400:
        return None
    try:
        error = response.json().get("error")
    except ValueError:
        return None
    return error.get("code") if isinstance(error, dict) else None
