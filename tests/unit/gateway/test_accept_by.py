"""A 503 ``log_unavailable`` means the request will not run (issue 11, defect 4).

The gateway writes its give-up time into the envelope (``accept_by_us``), waits for the
log's acknowledgement until that time plus a grace, and only then answers 503; workers
refuse an envelope the broker appended after ``accept_by_us``. These tests drive the
gateway on a log whose acknowledgement the test controls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from gati.codec.envelopes import EnvelopeCodec
from gati.config import Settings
from gati.core.envelopes import RequestEnvelope, ResponseEnvelope
from gati.errors import BackendUnavailable
from gati.gateway.asgi import MAX_SEND_BUDGET_S, Gateway
from gati.log.memory import MemoryLog

pytestmark = pytest.mark.timeout(30)

CODEC = EnvelopeCodec()
NOW_US = 1_800_000_000_000_000


class FixedClock:
    """The gateway's clock held still, so its envelope times are exact."""

    def now_us(self) -> int:
        return NOW_US


@dataclass(slots=True)
class HeldLog(MemoryLog):
    """The embedded log, except that an append to ``held`` is acknowledged only when
    ``release`` is set (never, unless the test sets it), or fails at once with ``fail``.

    Every envelope offered to ``held`` is kept in ``offered``, acknowledged or not, and
    ``arrived`` is set once there is one.
    """

    held: str = ""
    fail: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    offered: list[bytes] = field(default_factory=list)
    # Like the Kafka adapter: an acknowledgement waited for longer than this (or the
    # caller's ``timeout_s``) fails the append, though the broker may still take it.
    own_bound_s: float | None = None

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None,
        partition: int | None = None, timeout_s: float | None = None,
    ) -> None:
        if topic == self.held:
            self.offered.append(value)
            self.arrived.set()
            if self.fail:
                raise BackendUnavailable("the producer is not started")
            bound = self.own_bound_s if timeout_s is None else timeout_s
            try:
                await asyncio.wait_for(self.release.wait(), bound)
            except TimeoutError:
                raise BackendUnavailable("no acknowledgement in time") from None
        await MemoryLog.send(self, topic, value, key=key, partition=partition)


def _settings(timeout_s: float) -> Settings:
    return Settings(gateway_id="gw-accept", request_timeout_s=timeout_s)


@asynccontextmanager
async def _client(gw: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    await gw.start()
    transport = httpx.ASGITransport(app=gw)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client
    await gw.stop()


def _only_envelope(log: HeldLog) -> RequestEnvelope:
    [value] = log.offered
    return CODEC.decode_request(value)


async def test_unacknowledged_append_is_answered_503_after_accept_by_plus_grace() -> None:
    settings = _settings(10.0)
    log = HeldLog(held=settings.requests_topic)
    gw = Gateway(settings, log, manage_log=False, clock=FixedClock(),
                 send_budget_s=0.2, accept_grace_s=0.3)
    async with _client(gw) as client:
        started = time.monotonic()
        response = await client.post("/users", json={"name": "Ada"})
        waited = time.monotonic() - started

    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    error = response.json()["error"]
    assert error["code"] == "log_unavailable"
    assert "will not run" in error["message"] and "refused" in error["message"]
    assert "X-Request-Id" in error["message"]
    # The give-up time the envelope carries, and the gateway waited out its grace too.
    env = _only_envelope(log)
    assert env.accept_by_us == NOW_US + 200_000
    assert env.request_id == response.headers["x-request-id"]
    assert waited >= 0.2 + 0.3 - 0.02  # asyncio timers may fire a tick early
    assert gw.replies.in_flight == 0


async def test_a_late_acknowledgement_within_the_grace_still_gets_the_reply() -> None:
    settings = _settings(10.0)
    # The log's own bound is shorter than accept_by plus the grace: the gateway's wait,
    # not the adapter's, decides (a broker paused between append and ack, issue 11).
    log = HeldLog(held=settings.requests_topic, own_bound_s=0.05)
    gw = Gateway(settings, log, manage_log=False, send_budget_s=0.05, accept_grace_s=20.0)
    async with _client(gw) as client:
        worker = log.subscribe([settings.requests_topic], group="test-worker")
        await worker.start()
        answer = asyncio.create_task(client.get("/late"))
        # The broker acknowledges after accept_by: the gateway is still waiting.
        await log.arrived.wait()
        accept_by_us = _only_envelope(log).accept_by_us
        assert accept_by_us is not None
        loop = asyncio.get_running_loop()
        loop.call_later((accept_by_us - time.time_ns() // 1000) / 1e6 + 0.05, log.release.set)
        [record] = await worker.fetch(max_records=1, timeout_s=10.0)
        env = CODEC.decode_request(record.value)
        await log.send(env.reply_topic, CODEC.encode_response(ResponseEnvelope(
            request_id=env.request_id, status=200, headers=(), body=b"ok",
            completed_at_us=time.time_ns() // 1000)))
        response = await answer
    assert (response.status_code, response.content) == (200, b"ok")


async def test_a_log_that_fails_at_once_is_answered_503_at_once() -> None:
    settings = _settings(30.0)
    log = HeldLog(held=settings.requests_topic, fail=True)
    gw = Gateway(settings, log, manage_log=False, clock=FixedClock(), accept_grace_s=20.0)
    async with _client(gw) as client:
        started = time.monotonic()
        response = await client.post("/users", json={"name": "Ada"})
        waited = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "log_unavailable"
    assert waited < 5.0  # neither the send budget nor the grace was waited out
    # A 30 s deadline: the log gets the default budget, not the whole deadline.
    assert _only_envelope(log).accept_by_us == NOW_US + int(MAX_SEND_BUDGET_S * 1e6)


async def test_a_short_deadline_bounds_the_give_up_time() -> None:
    settings = _settings(1.0)
    log = HeldLog(held=settings.requests_topic, fail=True)
    gw = Gateway(settings, log, manage_log=False, clock=FixedClock())
    async with _client(gw) as client:
        assert (await client.get("/x")).status_code == 503
    env = _only_envelope(log)
    assert env.accept_by_us == env.deadline_at_us == NOW_US + 1_000_000


async def test_health_says_degraded_while_the_log_refuses_and_ok_once_it_takes_again() -> None:
    settings = _settings(0.3)  # no worker answers: taken requests end in a quick 504
    log = HeldLog(held=settings.requests_topic, fail=True)
    log.release.set()
    gw = Gateway(settings, log, manage_log=False)
    async with _client(gw) as client:
        assert (await client.get("/_gati/health")).json()["status"] == "ok"
        assert (await client.post("/x", content=b"{}")).status_code == 503
        health = await client.get("/_gati/health")
        assert health.status_code == 503 and health.json()["status"] == "degraded"
        assert "did not accept" in health.json()["degraded"]["kafka"]
        log.fail = False
        assert (await client.post("/x", content=b"{}")).status_code == 504
        assert (await client.get("/_gati/health")).json()["status"] == "ok"
