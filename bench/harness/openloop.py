"""Open-loop load: send at a fixed rate whatever the server does, time from when due.

``python -m bench.harness.openloop --url http://127.0.0.1:P/work --rate 300 --duration 8``
prints one JSON object. Request *i* is due at ``start + i / rate``; its latency is
measured from that moment, so a server that falls behind is charged for the queue it
causes (no coordinated omission). Requests go out on keep-alive HTTP/1.1 connections
from a pool that grows up to ``--max-connections``; a request that finds none free waits,
and the wait counts. The client is a bare ``asyncio.Protocol`` (no HTTP library) to keep
its own CPU per request low; its CPU use is reported by the parent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from bench.peers.handler import sample_order


class _Conn(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.buf = bytearray()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(self.buf) < end + 4 + length:
            return
        status = int(head.split(" ", 2)[1])
        del self.buf[: end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    def request(self, payload: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.waiter


def _payloads(kind: str, host: str, path: str, tag: str) -> Any:
    if kind == "work":
        doc = json.dumps(sample_order("ORDER_ID"), separators=(",", ":"))
        head, _, tail = doc.partition("ORDER_ID")

        def body(i: int) -> bytes:
            return f"{head}{tag}-{i}{tail}".encode()
    else:

        def body(i: int) -> bytes:
            return f'{{"name":"Bench User","email":"{tag}-o-{i}@example.com"}}'.encode()

    def payload(i: int) -> bytes:
        b = body(i)
        return (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(b)}\r\n\r\n"
        ).encode() + b

    return payload


def _pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    payload = _payloads(args.kind, f"{host}:{port}", parts.path or "/", args.tag)
    loop = asyncio.get_running_loop()
    idle: list[_Conn] = []
    opened = 0
    free = asyncio.Condition()
    latencies: list[float] = []
    lags: list[float] = []
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()

    async def get_conn() -> _Conn:
        nonlocal opened
        while True:
            while idle:
                conn = idle.pop()
                if not conn.closed:
                    return conn
                opened -= 1
            if opened < args.max_connections:
                opened += 1
                try:
                    _, proto = await loop.create_connection(_Conn, host, port)
                except OSError:
                    opened -= 1
                    raise
                return proto
            async with free:
                await free.wait()

    async def release(conn: _Conn) -> None:
        nonlocal opened
        if conn.closed:
            opened -= 1
        else:
            idle.append(conn)
        async with free:
            free.notify()

    async def one(i: int, due: float) -> None:
        try:
            async with asyncio.timeout(args.timeout):
                conn = await get_conn()
                lags.append(loop.time() - due)
                try:
                    status = await conn.request(payload(i))
                except BaseException:
                    if conn.transport is not None:
                        conn.transport.close()
                    conn.closed = True
                    raise
                finally:
                    await release(conn)
        except TimeoutError:
            errors["timeout"] += 1
            return
        except OSError:
            errors["connect"] += 1
            return
        latencies.append(loop.time() - due)
        statuses[str(status)] += 1

    total = int(args.rate * args.duration)
    tasks: set[asyncio.Task[None]] = set()
    start = loop.time() + 0.05
    for i in range(total):
        due = start + i / args.rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks))
    elapsed = loop.time() - start
    for conn in idle:
        if conn.transport is not None:
            conn.transport.close()
    lat = sorted(latencies)
    ok = sum(n for s, n in statuses.items() if s.startswith("2"))
    return {
        "sent": total,
        "completed": len(latencies),
        "ok": ok,
        "elapsed_s": elapsed,
        "connections_opened_max": args.max_connections,
        "latency_ms": {
            "p50": 1000 * _pct(lat, 50),
            "p90": 1000 * _pct(lat, 90),
            "p95": 1000 * _pct(lat, 95),
            "p99": 1000 * _pct(lat, 99),
            "p999": 1000 * _pct(lat, 99.9),
            "max": 1000 * (lat[-1] if lat else 0.0),
            "mean": 1000 * (sum(lat) / len(lat) if lat else 0.0),
        },
        "statuses": dict(statuses),
        "errors": dict(errors),
        "send_lag_ms_p99": 1000 * _pct(sorted(lags), 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds of sending")
    parser.add_argument("--kind", choices=["work", "users"], default="work")
    parser.add_argument("--tag", default=f"ol{int(time.time())}")
    parser.add_argument("--max-connections", type=int, default=512)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    json.dump(asyncio.run(run(args)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
