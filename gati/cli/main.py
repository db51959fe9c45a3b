"""``gati``: run the processes, migrate, inspect configuration.

Every command reads ``GATI_*`` settings from the environment, then applies its flags.
Errors that are the user's to fix print one line and exit 2; nothing prints a traceback
for a bad flag or an unreachable service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gati import config as gati_config
from gati.config import Settings
from gati.errors import GatiError

if TYPE_CHECKING:
    from gati.core.app import App
    from gati.gateway.asgi import Gateway
    from gati.gateway.bodies import TypedBodies

T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    return gati_config.from_env().with_overrides(**overrides)


def _fail(exc: GatiError) -> None:
    click.echo(f"gati: {exc.message}", err=True)
    sys.exit(2)


def _guard(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn GatiError into a one-line message and exit status 2."""

    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except GatiError as exc:
            _fail(exc)
            raise AssertionError("unreachable") from exc

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _run_until_signal(main: Callable[[], Awaitable[None]]) -> None:
    """Run ``main`` until it returns or SIGINT/SIGTERM cancels it."""

    async def runner() -> None:
        task = asyncio.ensure_future(main())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(runner())


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@click.group()
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def cli(log_level: str) -> None:
    """Gati: every HTTP request is an event."""
    _logging(log_level)


@cli.command()
@click.argument("app", required=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--gateway-id", default=None, help="Stable id; names the reply topic. [GATI_GATEWAY_ID]"
)
@click.option("--openapi/--no-openapi", default=True, show_default=True,
              help="With APP: serve /openapi.json (as `gati codegen openapi` prints it).")
@click.option("--docs/--no-docs", default=True, show_default=True,
              help="With APP: serve the interactive docs page at /docs (works offline).")
@_guard
def gateway(app: str | None, host: str, port: int, gateway_id: str | None, openapi: bool,
            docs: bool) -> None:
    """Serve HTTP and turn every request into an event on Kafka.

    APP is optional: the gateway runs no handler code. When given it is imported once, so
    a broken app fails here rather than on the first request, and valid typed JSON bodies
    travel to the workers as Avro (their schemas go in the schema store at
    GATI_DATABASE_URL; without it they travel as JSON, with a warning).

    Each request continues the client's W3C ``traceparent`` (or starts a trace) and the
    response carries ``traceparent`` back; spans go to GATI_OTLP_ENDPOINT when it is set.
    """
    import uvicorn

    from gati.gateway.server import guarded_http

    settings = _settings(gateway_id=gateway_id)
    gw = _gateway(settings, app)
    served = _self_described(gw, app, openapi=openapi, docs=docs) if app else gw
    server = uvicorn.Server(
        uvicorn.Config(
            served, host=host, port=port, lifespan="on", log_level="warning", access_log=False,
            # C parsers and event loop: pure-Python h11 was ~15% of the gateway's CPU;
            # httptools with a deadline for headers, against slow clients (issue 18).
            http=guarded_http(settings.header_timeout_s), loop="uvloop",
        )
    )
    click.echo(
        f"gati gateway {settings.effective_gateway_id()} on http://{host}:{port} "
        f"-> kafka {settings.kafka_bootstrap}",
        err=True,
    )
    try:
        server.run()
    finally:
        if gw.tracer is not None:
            gw.tracer.shutdown()  # the last batch of spans, before the process ends
    if not server.started:
        sys.exit(1)


def _self_described(gw: Gateway, app: str, *, openapi: bool, docs: bool) -> Any:
    """The gateway with the app's /openapi.json and /docs in front (gati.apidocs)."""
    from gati.apidocs import SelfDescribed
    from gati.cli.loader import load_app
    from gati.manifest import build_manifest

    return SelfDescribed(gw, build_manifest(load_app(app)), openapi=openapi, docs=docs)


def _gateway(settings: Settings, app: str | None) -> Gateway:
    """The gateway process's parts, from the settings and the app (if given)."""
    from gati.cli.loader import load_app
    from gati.gateway.asgi import ACCEPT_GRACE_S, MAX_SEND_BUDGET_S, Gateway
    from gati.gateway.auth import Authenticator
    from gati.gateway.idempotency import IdempotencyKeys
    from gati.gateway.ratelimit import RateLimits, SqlCounters
    from gati.observability import PrometheusMetrics, configure_tracing
    from gati.store.store import create_engine
    from gati.wiring import Security, gateway_log

    typed_bodies = None
    authenticator = None
    rate_limits = None
    # Idempotency-Key claims and rate-limit counters live in the record's database,
    # shared by every gateway.
    engine = create_engine(settings.database_url)
    if app:
        the_app = load_app(app)
        the_app.validate()
        typed_bodies = _typed_bodies(the_app, settings)
        authenticator = Authenticator(the_app.auth)  # without APP: nobody is authenticated
        rate_limits = RateLimits(SqlCounters(engine), the_app)  # without APP: no limits
    security = Security.from_settings(settings)
    if security.sealer is None:
        click.echo("gati gateway: GATI_SEAL_KEY is not set: Authorization, Cookie and other "
                   "sensitive values go to Kafka in clear (the record still masks them)",
                   err=True)
    return Gateway(
        settings,
        # The producer's own bound must outlast the gateway's wait (budget plus grace),
        # or it gives up at accept_by and an append acknowledged in the grace is lost.
        gateway_log(settings, send_timeout_s=MAX_SEND_BUDGET_S + ACCEPT_GRACE_S),
        metrics=PrometheusMetrics(),
        sealer=security.sealer,
        typed_bodies=typed_bodies,
        authenticator=authenticator,
        idempotency=IdempotencyKeys(engine, ttl_s=settings.idempotency_ttl_s),
        rate_limits=rate_limits,
        consumer_lag=_consumer_lag(settings),
        # Spans go to GATI_OTLP_ENDPOINT; without it the gateway only forwards the
        # client's trace context.
        tracer=configure_tracing("gati-gateway", settings.otlp_endpoint),
    )


def _consumer_lag(settings: Settings) -> Callable[[], Awaitable[int]]:
    """How the gateway reads the workers' lag (the operator's probe; GATI_MAX_CONSUMER_LAG)."""
    from gati.operator.probes import consumer_lag

    async def read() -> int:
        lag = await consumer_lag(settings.kafka_bootstrap, settings.worker_group,
                                 settings.requests_topic)
        return lag.total

    return read


def _typed_bodies(app: App, settings: Settings) -> Callable[[], Awaitable[TypedBodies]]:
    """At gateway start: the app's request schemas into the store, and their ids."""
    from gati.gateway.bodies import TypedBodies
    from gati.store.schemas import SchemaStore
    from gati.wiring import open_store

    async def register() -> TypedBodies:
        store = await open_store(settings)
        try:
            return await TypedBodies.register(app, SchemaStore(store.engine).ensure)
        finally:
            await store.close()

    return register


@cli.command()
@click.argument("app")
@click.option(
    "--concurrency",
    default=None,
    type=click.IntRange(1, 10_000),
    help="Requests handled at once. [GATI_WORKER_CONCURRENCY]",
)
@click.option(
    "--worker-id",
    default=None,
    help="Stable id of this worker; also its static group membership. [GATI_WORKER_ID]",
)
@click.option(
    "--session-timeout",
    default=None,
    type=float,
    help="Seconds without a heartbeat before the worker's partitions go to the others. "
    "[GATI_WORKER_SESSION_TIMEOUT_S]",
)
@_guard
def worker(
    app: str, concurrency: int | None, worker_id: str | None, session_timeout: float | None
) -> None:
    """Run APP's handlers: a consumer of the requests topic (GATI_WORKER_ENGINE).

    Metrics are served on GATI_METRICS_PORT when it is set; spans go to
    GATI_OTLP_ENDPOINT when it is set.
    """
    from gati.cli.loader import load_app
    from gati.observability import PrometheusMetrics, configure_tracing
    from gati.observability.health import HEALTH_PATH, Health, HealthServer
    settings = _settings(worker_concurrency=concurrency, worker_id=worker_id,
                         worker_session_timeout_s=session_timeout)
    the_app = load_app(app)
    metrics = PrometheusMetrics()
    health = Health(metrics, role="worker")
    server = (HealthServer(health, exposition=metrics.exposition)
              if settings.metrics_port else None)
    tracer = configure_tracing("gati-worker", settings.otlp_endpoint)
    click.echo(
        f"gati worker {settings.effective_worker_id()} ({settings.worker_engine}) for "
        f"{the_app.name} "
        f"-> kafka {settings.kafka_bootstrap}"
        + (f", metrics and {HEALTH_PATH} on :{settings.metrics_port}"
           if server is not None else ""),
        err=True,
    )
    if settings.worker_engine == "aiokafka":
        from gati.worker.kafka_worker import run_kafka_worker as run
    else:
        from gati.worker.faust_worker import run_faust_worker as run
    try:
        run(the_app, settings, tracer=tracer, metrics=metrics, health=health,
            health_server=server)
    finally:
        tracer.shutdown()


@cli.command()
@click.option("--batch-size", default=None, type=click.IntRange(1, 100_000))
@_guard
def recorder(batch_size: int | None) -> None:
    """Write requests and lifecycle events from Kafka into the database.

    With GATI_METRICS_PORT set, ``/_gati/health`` (503 "degraded" while the database
    or Kafka cannot be used) and ``/metrics`` are served on it.
    """
    from gati.errors import ConfigError
    from gati.observability import PrometheusMetrics
    from gati.observability.health import HEALTH_PATH, Health, HealthServer
    from gati.recorder.recorder import Recorder
    from gati.wiring import open_store, recorder_log

    settings = _settings(recorder_batch_size=batch_size)
    metrics = PrometheusMetrics()
    health = Health(metrics)

    async def serve_health() -> HealthServer | None:
        if not settings.metrics_port:
            return None
        try:
            return await HealthServer(health, exposition=metrics.exposition).start(
                settings.metrics_port)
        except OSError as exc:
            raise ConfigError(f"GATI_METRICS_PORT ({settings.metrics_port}) cannot be "
                              f"served: {exc.strerror or exc}") from exc

    async def main() -> None:
        server = await serve_health()
        try:
            store = await open_store(settings)
            event_log = recorder_log(settings)
            await event_log.start()
            try:
                await Recorder(settings, event_log, store, health=health).run()
            finally:
                await event_log.stop()
                await store.close()
        finally:
            if server is not None:
                server.close()

    click.echo(f"gati recorder -> {_safe_url(settings.database_url)}"
               + (f", health on :{settings.metrics_port}{HEALTH_PATH}"
                  if settings.metrics_port else ""), err=True)
    _run_until_signal(main)


@cli.command()
@_guard
def migrate() -> None:
    """Create or upgrade Gati's tables (idempotent)."""
    from gati.store.migrate import current_revision
    from gati.store.store import open_store

    settings = _settings()

    async def main() -> str | None:
        store = await open_store(settings.database_url, migrate_first=True)
        try:
            return await current_revision(store.engine)
        finally:
            await store.close()

    revision = asyncio.run(main())
    click.echo(f"{_safe_url(settings.database_url)} is at revision {revision}")


@cli.command()
@click.argument("app")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--state-dir", default=".gati", show_default=True, help="Where the SQLite database lives."
)
@_guard
def dev(app: str, host: str, port: int, state_dir: str) -> None:
    """Everything in one process on the embedded log and SQLite: zero setup."""
    import os

    from gati.cli.loader import load_app
    from gati.dev.runner import run_dev

    the_app = load_app(app)
    base = _settings()
    if "GATI_DATABASE_URL" not in os.environ:
        base = base.with_overrides(database_url=f"sqlite+aiosqlite:///{state_dir}/gati.db")

    def ready(url: str) -> None:
        click.echo(f"Gati dev server for {the_app.name!r}: {url}")
        click.echo(f"  state: {_safe_url(base.database_url)} (embedded log, in memory)")
        click.echo(f"  playground: {url}/_gati/playground/")
        for spec in the_app.handlers.values():
            click.echo(f"  {spec.method:6} {url}{spec.path}")
        for line in the_app.try_it:
            click.echo("Try:\n  " + line.format(url=url))
        sys.stdout.flush()

    _run_until_signal(lambda: run_dev(the_app, base, host=host, port=port, on_ready=ready))


@cli.command(name="config")
def show_config() -> None:
    """List the GATI_* variables with their defaults and current values."""
    import os

    for name, default in gati_config.documented_variables().items():
        current = os.environ.get(name)
        if current and "URL" in name:
            shown: str | None = _safe_url(current)
        elif current and ("KEY" in name or "PASSWORD" in name or "SECRET" in name):
            shown = "***"
        else:
            shown = current
        click.echo(f"{name}={shown if current is not None else ''}  (default: {default})")


class _HistoryGroup(click.Group):
    """``gati history ID`` shows a request; other words name subcommands (``prune``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["show", *args]
        return super().parse_args(ctx, args)


def _request_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a request id (a UUID such as "
            "0190c2a0-5f1e-7a3b-8c4d-0123456789ab)"
        ) from None


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _age(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    import re
    from datetime import timedelta

    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", value or "")
    if not match or int(match.group(1)) == 0:
        raise click.BadParameter(
            f"{value!r} is not an age: give a positive number with s, m, h or d "
            "(e.g. 90m, 12h, 30d)"
        )
    return timedelta(seconds=int(match.group(1)) * _AGE_UNITS[match.group(2)])


def _history_store_url(settings: Settings) -> str:
    """The database to read; a missing SQLite file is an error, not a new database."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from gati.errors import ConfigError

    url = settings.database_url
    try:
        parsed = make_url(url)
    except Exception:
        return url  # open_store names the problem
    database = parsed.database or ":memory:"
    sqlite_file = parsed.get_backend_name() == "sqlite" and database != ":memory:"
    if sqlite_file and not Path(database).exists():
        raise ConfigError(
            f"no database at {database}: set GATI_DATABASE_URL to the record "
            "(gati dev keeps it in .gati/gati.db)"
        )
    return url


@cli.group(cls=_HistoryGroup)
def history() -> None:
    """What happened to a request: `gati history ID [--json]`; `gati history prune`."""


@history.command(name="show")
@click.argument("request_id", callback=_request_id)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_guard
def history_show(request_id: str, as_json: bool) -> None:
    """Show request REQUEST_ID's timeline: hooks, effects, logs, snapshots, outcome.

    Exits 1 when the id is not recorded, 2 when it is not a request id.
    """
    import json

    from gati.cli.render import timeline_json, timeline_text
    from gati.store.store import Timeline, open_store

    url = _history_store_url(_settings())

    async def main() -> Timeline | None:
        store = await open_store(url)
        try:
            return await store.timeline(request_id)
        finally:
            await store.close()

    timeline = asyncio.run(main())
    if timeline is None:
        click.echo(f"gati: request {request_id} is not recorded in {_safe_url(url)}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(timeline_json(timeline), indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(timeline_text(timeline))


@history.command(name="prune")
@click.option(
    "--older-than",
    "older_than",
    required=True,
    callback=_age,
    metavar="AGE",
    help="Delete requests received longer ago than AGE: 3600s, 90m, 12h, 30d.",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option(
    "--batch-size",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Requests deleted per transaction.",
)
@_guard
def history_prune(older_than: Any, dry_run: bool, batch_size: int) -> None:
    """Delete old requests with all their lifecycle events (retention by age)."""
    from datetime import UTC, datetime

    from gati.cli.render import prune_text
    from gati.store.store import PruneResult, open_store

    url = _history_store_url(_settings())
    before = datetime.now(UTC) - older_than

    async def main() -> PruneResult:
        store = await open_store(url)
        try:
            return await store.prune(before, batch_size=batch_size, dry_run=dry_run)
        finally:
            await store.close()

    click.echo(prune_text(asyncio.run(main())))


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable url>"


def main() -> None:
    cli(prog_name="gati")


def _register_groups() -> None:
    from gati.cli.replay_cmd import replay
    from gati.cli.timescape_cmd import timescape

    cli.add_command(timescape)
    cli.add_command(replay)
    from gati.cli.playground_cmd import playground

    cli.add_command(playground)
    from gati.cli.commands_types import register_type_commands

    register_type_commands(cli)  # manifest, schemas, codegen, contracts
    from gati.cli.k8s_cmd import register_k8s_commands

    register_k8s_commands(cli)  # k8s render|crd, operator
    from gati.cli.modules_cmd import modules

    cli.add_command(modules)  # modules check|list|reload
    from gati.cli.registry_cmd import registry

    cli.add_command(registry)  # the Confluent-compatible schema registry


_register_groups()
