"""Whether a process is healthy, degraded (a dependency is failing) or starting.

A gateway, worker or recorder that waits out a database or broker outage is alive but
not doing its work; an operator (or an orchestrator's probe) must be able to tell that
from "all is well" without reading logs. ``Health`` holds the failing dependencies with
their reason and mirrors them in the ``gati_<role>_degraded{dependency}`` gauge; the
gateway answers ``GET /_gati/health`` from it, and ``HealthServer`` serves the same
path and ``GET /metrics`` for the worker and recorder on ``GATI_METRICS_PORT``::

    200 {"status": "ok", "degraded": {}}
    503 {"status": "degraded", "degraded": {"database": "writing ...: the database is
         unreachable: ConnectionRefusedError: ..."}}
    503 {"status": "starting", "degraded": {}}

503 while degraded, so a load balancer or probe sees it; the process must not be
restarted for it (it recovers by itself), which is why a liveness probe should only
check that the port answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from gati.core.observe import Gauge, Metrics

log = logging.getLogger(__name__)
HEALTH_PATH = "/_gati/health"
METRICS_PATH = "/metrics"
DEPENDENCIES = ("database", "kafka")
Exposition = Callable[[str], tuple[bytes, str]]  # Accept header -> (body, content type)


class Health:
    """The failing dependencies of one process, each with why; see the module docstring."""

    def __init__(self, metrics: Metrics | None = None, *, role: str = "recorder") -> None:
        self._degraded: dict[str, str] = {}
        self._started = False
        self._gauge: Gauge | None = None
        if metrics is not None:
            self._gauge = metrics.gauge(
                f"gati_{role}_degraded",
                f"1 while the {role} cannot use this dependency (it waits and retries)",
                ("dependency",),
            )
            for dependency in DEPENDENCIES:
                self._gauge.set(0, dependency=dependency)

    def started(self) -> None:
        self._started = True

    def degrade(self, dependency: str, reason: str) -> None:
        """``dependency`` is failing; logged once per outage, not once per retry."""
        self._check(dependency)
        if dependency not in self._degraded:
            log.warning("degraded: %s: %s", dependency, reason)
            if self._gauge is not None:
                self._gauge.set(1, dependency=dependency)
        self._degraded[dependency] = reason

    def recover(self, dependency: str) -> None:
        self._check(dependency)
        if self._degraded.pop(dependency, None) is not None:
            log.warning("recovered: %s answers again", dependency)
            if self._gauge is not None:
                self._gauge.set(0, dependency=dependency)

    @property
    def status(self) -> str:
        if self._degraded:
            return "degraded"
        return "ok" if self._started else "starting"

    def report(self, **extra: object) -> tuple[int, dict[str, object]]:
        """(HTTP status, body) of the health endpoint; ``extra`` joins the body."""
        status = self.status
        return (200 if status == "ok" else 503), {"status": status,
                                                  "degraded": dict(self._degraded), **extra}

    @staticmethod
    def _check(dependency: str) -> None:
        if dependency not in DEPENDENCIES:
            raise ValueError(f"unknown dependency {dependency!r}; one of {DEPENDENCIES}")


class HealthServer:
    """``/_gati/health`` and ``/metrics`` over plain HTTP/1.1, one request per connection.

    Deliberately tiny (no ASGI server): the recorder has no web framework, and uvicorn
    would take over the process's signal handling.
    """

    def __init__(self, health: Health, *, exposition: Exposition | None = None) -> None:
        self.health = health
        self.exposition = exposition
        self._server: asyncio.Server | None = None

    async def start(self, port: int, *, host: str = "0.0.0.0") -> HealthServer:
        """Listen on ``host:port`` (0 picks a free port, see :attr:`port`).

        Raises:
            OSError: the port cannot be bound.
        """
        self._server = await asyncio.start_server(self._serve, host, port, limit=8192)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            status, content_type, body = self._answer(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            status, content_type, body = 400, "text/plain", b"bad request\n"
        except OSError:
            writer.transport.abort()
            return
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  503: "Service Unavailable"}[status]
        writer.write(f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n"
                     f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                     + body)
        try:
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    def _answer(self, head: bytes) -> tuple[int, str, bytes]:
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        if method != "GET":
            return 405, "text/plain", b"only GET\n"
        if path == HEALTH_PATH:
            code, report = self.health.report()
            return code, "application/json", json.dumps(report).encode()
        if path == METRICS_PATH and self.exposition is not None:
            accept = next((line.partition(":")[2].strip() for line in lines[1:]
                           if line.lower().startswith("accept:")), "")
            body, content_type = self.exposition(accept)
            return 200, content_type, body
        return 404, "text/plain", b"not found\n"
