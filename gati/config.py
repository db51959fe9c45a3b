"""Settings from the environment (``GATI_*``) with CLI flags layered on top.

Read once at process start into a frozen value and passed down explicitly; nothing
reads the environment later. Invalid values fail at start with the variable's name.
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from gati.core.pipeline import SnapshotPolicy
from gati.errors import ConfigError

_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def valid_name(value: str) -> bool:
    """Whether ``value`` may be part of a topic name (a gateway or worker id, a prefix)."""
    return bool(_TOPIC_RE.match(value))


@dataclass(frozen=True, slots=True)
class Settings:
    kafka_bootstrap: str = "localhost:9092"
    database_url: str = "sqlite+aiosqlite:///.gati/gati.db"
    topic_prefix: str = "gati"
    gateway_id: str = ""
    worker_id: str = ""
    max_body_bytes: int = 1024 * 1024
    request_timeout_s: float = 30.0
    max_in_flight: int = 1000
    # Slow clients (issue 18): a connection has this long to send a request's headers,
    # and a request this long to send its body (then 408); neither holds the gateway.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    # Shed load (503) while the workers' consumer lag on the requests topic is over this
    # many messages; 0: off. Checked every lag_check_s by each gateway.
    max_consumer_lag: int = 0
    lag_check_s: float = 1.0
    retry_after_s: int = 2
    worker_concurrency: int = 16
    # A worker that stops heartbeating (killed, frozen, cut off) loses its partitions
    # this long after its last heartbeat; the other workers carry on meanwhile. Brokers
    # accept 6 s to 30 min unless configured otherwise (group.min.session.timeout.ms).
    # Measured with 2 workers, kill -9: its partitions answer again after about 9 s.
    worker_session_timeout_s: float = 8.0
    worker_heartbeat_interval_s: float = 1.0
    # Static group membership (KIP-345): a worker restarted under the same instance id
    # gets its partitions back without a rebalance. "" derives it from GATI_WORKER_ID
    # when that is set (and uses none for the pid-based default); "none" turns it off.
    worker_instance_id: str = ""
    # Messages per recorder transaction at most (one per request and one per request's
    # lifecycle batch). bench/recorder_drain.py: 500 drained 48k rows/s, 2000 54k.
    recorder_batch_size: int = 2000
    recorder_linger_s: float = 0.05
    requests_partitions: int = 4
    app_database_url: str = ""
    # "on" records every lifecycle step; "off" sends only replies (requests are still
    # recorded). Off exists to price the recording, not for production.
    lifecycle: str = "on"
    # "on": each journaled module call is made durable in the log before the handler
    # gets its result, so a request redelivered after its worker died is resumed, not
    # run again (docs/operations.md, "Delivery guarantees"). "off" prices it.
    journal: str = "on"
    # What feeds records to the worker's Processor: "faust" (its agents) or "aiokafka"
    # (a bare group consumer: 0.64x the worker CPU per request on the same backlog,
    # bench/results/2026-12-02-worker-engine.md; docs/decisions.md "Worker engine").
    worker_engine: str = "faust"
    secrets_dir: str = ""
    secrets_env_prefix: str = ""
    secrets_ttl_s: float = 60.0
    metrics_port: int = 0
    otlp_endpoint: str = ""
    # Snapshots of lctx: off, on_error, always or sampled:<rate>; X-Gati-Debug: 1 asks
    # for every snapshot of one request.
    snapshots: str = "on_error"
    # "production" refuses replay --live; anything else allows it.
    environment: str = "production"
    # AES-256 key (base64) shared by gateways and workers; sensitive request values are
    # sealed with it before they reach the log. Unset: they travel in clear (a warning).
    seal_key: str = ""
    sensitive_headers: str = ""
    sensitive_fields: str = ""
    # Query parameters sealed and masked like sensitive headers, added to the default
    # list (gati.codec.seal.DEFAULT_QUERY: access_token, api_key, signature, ...).
    sensitive_query: str = ""
    # How long an Idempotency-Key holds (its claim is pruned after): 24 h, as Stripe's.
    idempotency_ttl_s: float = 86400.0

    @property
    def requests_topic(self) -> str:
        return f"{self.topic_prefix}.requests"

    @property
    def lifecycle_topic(self) -> str:
        return f"{self.topic_prefix}.lifecycle"

    @property
    def deadletter_topic(self) -> str:
        return f"{self.topic_prefix}.deadletter"

    def reply_topic(self, gateway_id: str) -> str:
        return f"{self.topic_prefix}.replies.{gateway_id}"

    def events_topic(self, topic: str) -> str:
        return f"{self.topic_prefix}.events.{topic}"

    @property
    def subscribers_group(self) -> str:
        return f"{self.topic_prefix}-subscribers"

    @property
    def worker_group(self) -> str:
        return f"{self.topic_prefix}-worker"

    @property
    def recorder_group(self) -> str:
        return f"{self.topic_prefix}-recorder"

    def effective_gateway_id(self) -> str:
        return self.gateway_id or f"gw-{_host()}"

    def effective_worker_id(self) -> str:
        return self.worker_id or f"wk-{_host()}-{os.getpid()}"

    def effective_worker_instance_id(self) -> str | None:
        """The worker's static group member id, or ``None`` for dynamic membership.

        Never derived from the pid-based default id: each restart would then join as a
        new static member while the old one held its partitions for a session timeout.
        """
        if self.worker_instance_id == "none":
            return None
        return self.worker_instance_id or self.worker_id or None

    def effective_app_database_url(self) -> str:
        return self.app_database_url or self.database_url

    def with_overrides(self, **overrides: Any) -> Settings:
        """Apply CLI flags; ``None`` means the flag was not given."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return validate(replace(self, **given))


_ENV = {f.name: f"GATI_{f.name.upper()}" for f in fields(Settings)}


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(_ENV[f.name])
        if raw is None or raw == "":
            continue
        values[f.name] = _convert(f.name, raw, type(getattr(Settings(), f.name)))
    return validate(Settings(**values))


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{_ENV[name]}={raw!r} is not a valid {kind.__name__}") from None


def validate(s: Settings) -> Settings:
    def bad(name: str, why: str) -> ConfigError:
        return ConfigError(f"{_ENV[name]} ({getattr(s, name)!r}) {why}")

    if s.max_body_bytes <= 0:
        raise bad("max_body_bytes", "must be positive")
    if not (math.isfinite(s.request_timeout_s) and s.request_timeout_s > 0):
        raise bad("request_timeout_s", "must be a positive number of seconds")
    if s.retry_after_s < 0:
        raise bad("retry_after_s", "must not be negative")
    if not (math.isfinite(s.recorder_linger_s) and s.recorder_linger_s >= 0):
        raise bad("recorder_linger_s", "must be a non-negative number of seconds")
    if s.max_in_flight <= 0:
        raise bad("max_in_flight", "must be positive")
    if s.worker_concurrency <= 0:
        raise bad("worker_concurrency", "must be positive")
    if not (math.isfinite(s.worker_session_timeout_s) and 1 <= s.worker_session_timeout_s <= 300):
        raise bad("worker_session_timeout_s", "must be between 1 and 300 seconds")
    hb = s.worker_heartbeat_interval_s
    if not (math.isfinite(hb) and 0 < hb <= s.worker_session_timeout_s / 3):
        raise bad("worker_heartbeat_interval_s",
                  "must be positive and at most a third of GATI_WORKER_SESSION_TIMEOUT_S")
    if s.recorder_batch_size <= 0:
        raise bad("recorder_batch_size", "must be positive")
    if not 1 <= s.requests_partitions <= 1000:
        raise bad("requests_partitions", "must be between 1 and 1000")
    if not _TOPIC_RE.match(s.topic_prefix):
        raise bad("topic_prefix", "may only contain letters, digits, '.', '_' and '-'")
    for name in ("gateway_id", "worker_id", "worker_instance_id"):
        value = getattr(s, name)
        if value and not _TOPIC_RE.match(value):
            raise bad(name, "may only contain letters, digits, '.', '_' and '-'")
    if not (math.isfinite(s.secrets_ttl_s) and s.secrets_ttl_s >= 0):
        raise bad("secrets_ttl_s", "must be a non-negative number of seconds")
    if not 0 <= s.metrics_port <= 65535:
        raise bad("metrics_port", "must be a port number (0 disables the worker's /metrics)")
    try:
        SnapshotPolicy.parse(s.snapshots)
    except ValueError:
        raise bad("snapshots", "must be off, on_error, always or sampled:<rate between 0 and 1>"
                  ) from None
    if s.lifecycle not in ("on", "off"):
        raise bad("lifecycle", "must be 'on' or 'off'")
    if s.journal not in ("on", "off"):
        raise bad("journal", "must be 'on' or 'off'")
    if s.worker_engine not in ("faust", "aiokafka"):
        raise bad("worker_engine", "must be 'faust' or 'aiokafka'")
    if "://" not in s.database_url:
        raise bad("database_url", "is not a SQLAlchemy URL (e.g. postgresql+asyncpg://...)")
    if not s.kafka_bootstrap.strip():
        raise bad("kafka_bootstrap", "is empty")
    return s


def documented_variables() -> dict[str, str]:
    """Environment variable -> default, for ``gati config`` and the docs."""
    defaults = Settings()
    return {_ENV[f.name]: str(getattr(defaults, f.name)) for f in fields(Settings)}
