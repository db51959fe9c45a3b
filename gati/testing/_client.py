"""``GatiTestClient``: requests through the real pipeline, with no Kafka and no database.

The client builds the envelope a gateway would send and hands it to the same
``Pipeline`` a worker runs (routing, body parsing, the Local Context Controller with
hooks, compensations and timeouts, effects, redaction). Only the edges are replaced:
modules by scripts or fakes, secrets by a mapping, the clock by a ``FixedClock``, the
random source by a seeded one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Unpack

from gati.core.app import App
from gati.core.envelopes import RequestEnvelope
from gati.core.ids import RequestIdGenerator
from gati.core.observe import Metrics
from gati.core.pipeline import Pipeline
from gati.core.ports import Clock
from gati.errors import GatiError
from gati.testing._clock import FixedClock
from gati.testing._requests import DEFAULT_TIMEOUT_S, RequestOptions, build_envelope
from gati.testing._result import Result, header_map
from gati.testing._services import (
    CapturingTracer,
    build_services,
    seeded_effects,
    seeded_rng,
    take_misses,
)


class GatiTestClient:
    """Send requests to an app in-process and get each one's response and record.

    Deterministic by default: a frozen ``FixedClock`` and seed 0, so request ids,
    ``lctx.now()``, ``lctx.random()`` and ``lctx.uuid()`` are the same on every run.

    Args:
        app: the application under test.
        modules: module name -> a dict script (see ``ScriptedModule``) or an object to
            use as the module. Registered modules left out fail only when called.
        secrets: what ``gctx.secrets.get`` finds; values are redacted from the record.
        config: overrides of ``app.config`` for ``gctx.config``.
        clock: the clock of the pipeline and of ``lctx.now()``.
        seed: the seed of request ids and of ``lctx.random()`` / ``lctx.uuid()``.
        metrics: the ``gctx.metrics`` implementation (default: no-op).
        timeout_s: each request's deadline, as the gateway would set it.
        raise_server_errors: re-raise, in the test, an exception (other than a
            ``GatiError``) that made the request answer 5xx, instead of hiding it
            behind the opaque 500 body. Turn off to assert on that body.
        raise_script_errors: raise ``UnscriptedCall`` / ``ScriptExhausted`` in the
            test even if the handler caught them.
    """

    def __init__(
        self,
        app: App,
        *,
        modules: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        seed: int | str = 0,
        metrics: Metrics | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        raise_server_errors: bool = True,
        raise_script_errors: bool = True,
        worker_id: str = "wk-test",
    ) -> None:
        self.app = app
        self.clock: Clock = clock if clock is not None else FixedClock()
        self.seed = seed
        self.timeout_s = timeout_s
        self.raise_server_errors = raise_server_errors
        self.raise_script_errors = raise_script_errors
        self.services = build_services(app, modules, secrets=secrets, config=config,
                                       metrics=metrics)
        self._tracer = CapturingTracer()
        self.pipeline = Pipeline(app, self.services, clock=self.clock, worker_id=worker_id,
                                 tracer=self._tracer, effects=seeded_effects(seed))
        self._ids = RequestIdGenerator(self.clock, seeded_rng(seed, "request-ids").randbytes)
        self._facades: list[SyncGatiTestClient] = []

    @property
    def modules(self) -> Mapping[str, Any]:
        """The module objects handlers call (``ScriptedModule`` for scripts)."""
        return {name: entry.instance for name, entry in self.services.modules.items()}

    async def request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Result:
        """Send ``method path`` (``path`` may carry a query string).

        Raises:
            ScriptError: a module call the script does not cover.
            Exception: the handler's or a hook's own exception, if it made the request
                fail with 5xx and ``raise_server_errors`` is on.
        """
        env = build_envelope(method, path, options, request_id=self._ids.new(),
                             now_us=self.clock.now_us(), default_timeout_s=self.timeout_s)
        return await self.send(env)

    async def send(self, env: RequestEnvelope) -> Result:
        """Process a ready-made envelope (e.g. one carrying a gateway rejection)."""
        outcome = await self.pipeline.process(env)
        misses = take_misses(self.services)
        errors = self._tracer.pop(env.request_id)
        if self.raise_script_errors and misses:
            raise misses[0]
        response = outcome.response
        if self.raise_server_errors and response.status >= 500:
            for exc in errors:
                if not isinstance(exc, GatiError):
                    raise exc
        return Result(
            status=response.status, headers=header_map(response.headers), body=response.body,
            events=outcome.events, published=outcome.publications,
            request_id=response.request_id, handler_id=response.handler_id,
            raw_headers=response.headers,
        )

    async def get(self, path: str, **options: Unpack[RequestOptions]) -> Result:
        return await self.request("GET", path, **options)

    async def post(self, path: str, **options: Unpack[RequestOptions]) -> Result:
        return await self.request("POST", path, **options)

    async def put(self, path: str, **options: Unpack[RequestOptions]) -> Result:
        return await self.request("PUT", path, **options)

    async def patch(self, path: str, **options: Unpack[RequestOptions]) -> Result:
        return await self.request("PATCH", path, **options)

    async def delete(self, path: str, **options: Unpack[RequestOptions]) -> Result:
        return await self.request("DELETE", path, **options)

    async def head(self, path: str, **options: Unpack[RequestOptions]) -> Result:
        return await self.request("HEAD", path, **options)

    async def options(self, path: str, **options: Unpack[RequestOptions]) -> Result:
        return await self.request("OPTIONS", path, **options)

    def sync(self) -> SyncGatiTestClient:
        """A blocking facade over this client, for tests that are not async."""
        facade = SyncGatiTestClient(self)
        self._facades.append(facade)
        return facade

    def close(self) -> None:
        """Close the sync facades this client handed out (their event loops)."""
        for facade in self._facades:
            facade.close()
        self._facades.clear()


class SyncGatiTestClient:
    """``GatiTestClient`` for plain (non-async) tests.

    Runs every request on one private event loop, kept for the facade's life, so
    module objects bound to a loop keep working across requests. Close it (or use it
    as a context manager); it cannot be used from inside a running event loop.
    """

    def __init__(self, client: GatiTestClient) -> None:
        self.client = client
        self._runner = asyncio.Runner()

    def request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Result:
        return self._runner.run(self.client.request(method, path, **options))

    def get(self, path: str, **options: Unpack[RequestOptions]) -> Result:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Unpack[RequestOptions]) -> Result:
        return self.request("POST", path, **options)

    def put(self, path: str, **options: Unpack[RequestOptions]) -> Result:
        return self.request("PUT", path, **options)

    def patch(self, path: str, **options: Unpack[RequestOptions]) -> Result:
        return self.request("PATCH", path, **options)

    def delete(self, path: str, **options: Unpack[RequestOptions]) -> Result:
        return self.request("DELETE", path, **options)

    def close(self) -> None:
        self._runner.close()

    def __enter__(self) -> SyncGatiTestClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
