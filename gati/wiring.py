"""The pieces every Gati process is built from, built in one place.

``gati dev``, ``gati gateway``, ``gati worker``, ``gati recorder``, replay and
``gati.testing`` all take from here, so they cannot disagree on what they share:

- :func:`topics`: the topics a role declares. The requests topic always carries the
  broker's append time (``TopicSpec.for_requests``), and the lifecycle topic has as many
  partitions as the requests topic: the effect journal reads a request's steps from the
  lifecycle partition with the number of its request's partition.
- :class:`Security`: the sensitive-value settings, the sealer that opens them and the
  masker that keys the record's mask tokens.
- :func:`app_config`, :func:`services`: ``gctx`` as every process builds it, with the
  app's config, so a handler reading ``gctx.config`` replays as it ran.
- :func:`pipeline_options`, :func:`replay_pipeline_options`: the pipeline's policies,
  parsed once from the settings.
- :func:`intake`, :func:`open_store`, :func:`worker_logs`, :func:`recorder_log`: how
  processes read envelopes and reach the store and the log.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gati.codec.bodies import BodyCodecs
from gati.codec.envelopes import EnvelopeCodec
from gati.codec.intake import Intake
from gati.codec.seal import Sealer, Sensitive, masker_for, new_key, sealer_for
from gati.config import Settings
from gati.core.app import App
from gati.core.context import ModuleEntry, Secrets, SecretSource, Services
from gati.core.observe import Metrics, NoMetrics
from gati.core.pipeline import PipelineOptions, SnapshotPolicy
from gati.core.ports import TopicSpec
from gati.core.redact import Masker, Redactor
from gati.modules.secrets import EnvSecrets, FileSecrets

if TYPE_CHECKING:
    from gati.log.kafka import KafkaLog
    from gati.store.store import Store

REPLY_RETENTION_MS = 3_600_000
"""Replies are read within a request's timeout; an hour is ample and bounds the topic."""


class Role(enum.Enum):
    GATEWAY = "gateway"
    WORKER = "worker"
    RECORDER = "recorder"


def topics(settings: Settings, role: Role, *, gateway_id: str | None = None) -> list[TopicSpec]:
    """The topics ``role`` declares before it starts (idempotent; any process may be first).

    A gateway also declares its own reply topic (``gateway_id``, default its id).
    """
    s = settings
    shared = [
        TopicSpec.for_requests(s.requests_topic, s.requests_partitions),
        TopicSpec(s.lifecycle_topic, s.requests_partitions),
        TopicSpec(s.deadletter_topic, 1),
    ]
    if role is Role.GATEWAY:
        reply = s.reply_topic(gateway_id or s.effective_gateway_id())
        shared.append(TopicSpec(reply, 1, retention_ms=REPLY_RETENTION_MS))
    return shared


def events_topics(names: list[str]) -> list[TopicSpec]:
    """Topics of global publications (``@app.subscribe``): one partition each."""
    return [TopicSpec(name, 1) for name in names]


@dataclass(frozen=True, slots=True)
class Security:
    """Which values are sensitive, how they are opened, and how the record masks them."""

    sensitive: Sensitive
    sealer: Sealer | None
    masker: Masker

    @classmethod
    def from_settings(cls, settings: Settings, *, one_process: bool = False) -> Security:
        """From ``GATI_SEAL_KEY`` and the sensitive-value settings.

        ``one_process`` (``gati dev``): without a key, gateway, worker and recorder share
        a random one, so sensitive values are sealed in the embedded log too.

        Raises:
            ConfigError: the seal key is not a base64 32-byte key.
        """
        ephemeral = new_key() if one_process and not settings.seal_key else None
        return cls(
            Sensitive.from_settings(settings.sensitive_headers, settings.sensitive_fields,
                                    settings.sensitive_query),
            sealer_for(settings.seal_key, settings.sensitive_headers, settings.sensitive_fields,
                       query=settings.sensitive_query,
                       ephemeral=ephemeral),
            masker_for(settings.seal_key, ephemeral),
        )


def app_config(app: App | None, settings: Settings | None = None,
               overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``gctx.config`` and what module factories get: the app's config over the defaults.

    With ``settings``, ``database_url`` defaults to the app's database
    (``GATI_APP_DATABASE_URL``, else ``GATI_DATABASE_URL``); ``overrides`` (a test's)
    go over everything.
    """
    config: dict[str, Any] = {}
    if settings is not None:
        config["database_url"] = settings.effective_app_database_url()
    if app is not None:
        config.update(app.config)
    config.update(overrides or {})
    return config


def secret_sources(settings: Settings) -> list[SecretSource]:
    """Where ``gctx.secrets`` looks: the environment, then ``GATI_SECRETS_DIR`` if set."""
    sources: list[SecretSource] = [
        EnvSecrets(prefix=settings.secrets_env_prefix, ttl_s=settings.secrets_ttl_s)
    ]
    if settings.secrets_dir:
        sources.append(FileSecrets(Path(settings.secrets_dir), ttl_s=settings.secrets_ttl_s))
    return sources


def services(
    app: App | None,
    config: Mapping[str, Any],
    modules: dict[str, ModuleEntry],
    *,
    redactor: Redactor | None = None,
    sources: list[SecretSource] | None = None,
    metrics: Metrics | None = None,
) -> Services:
    """What every request of a process shares: modules, config, secrets, metrics, versions.

    ``sources`` empty (replay): secret lookups are then only served from the record.
    """
    redactor = redactor or Redactor()
    return Services(
        modules=modules, config=config, redactor=redactor,
        secrets=Secrets(sources or [], redactor), metrics=metrics or NoMetrics(),
        versions=version_labels(app),
    )


def version_labels(app: App | None) -> Callable[[str], list[str]]:
    """``gctx.timescape.versions(handler_id)``: the labels the app has, oldest first."""
    def versions(handler_id: str) -> list[str]:
        family = app.families.get(handler_id) if app is not None else None
        return [] if family is None else [v.label for v in family.versions]

    return versions


def pipeline_options(settings: Settings, security: Security) -> PipelineOptions:
    """The worker's pipeline policies, parsed once at start."""
    return PipelineOptions(snapshots=SnapshotPolicy.parse(settings.snapshots),
                           sensitive_values=security.sensitive.values)


def replay_pipeline_options() -> PipelineOptions:
    """Replay's pipeline: it records nothing, so no snapshots, and step details stay the
    objects they were (``Outcome.raw_details``) for the comparison with the record."""
    return PipelineOptions(snapshots=SnapshotPolicy("off"), details_as_objects=True)


def intake(security: Security, bodies: BodyCodecs | None = None,
           codec: EnvelopeCodec | None = None) -> Intake:
    """How a process reads envelopes off the log (worker and recorder alike)."""
    return Intake(codec=codec, bodies=bodies, sensitive=security.sensitive,
                  sealer=security.sealer, masker=security.masker)


async def open_store(settings: Settings, *, migrate_first: bool = False) -> Store:
    """The record's store at ``GATI_DATABASE_URL``."""
    from gati.store.store import open_store as open_at

    return await open_at(settings.database_url, migrate_first=migrate_first)


def worker_logs(settings: Settings) -> tuple[KafkaLog, KafkaLog]:
    """A worker's producers: outputs (lingering 2 ms) and journal writes (no linger).

    A journal write holds its handler until it is acknowledged, so it must not wait
    for a batch to fill.
    """
    from gati.log.kafka import KafkaLog

    worker_id = settings.effective_worker_id()
    return (KafkaLog(settings.kafka_bootstrap, client_id=worker_id, linger_ms=2),
            KafkaLog(settings.kafka_bootstrap, client_id=f"{worker_id}-journal"))


def recorder_log(settings: Settings) -> KafkaLog:
    from gati.log.kafka import KafkaLog

    return KafkaLog(settings.kafka_bootstrap, client_id="gati-recorder")


def gateway_log(settings: Settings, *, send_timeout_s: float) -> KafkaLog:
    """The gateway's producer; its own bound must outlast the gateway's wait."""
    from gati.log.kafka import KafkaLog

    return KafkaLog(settings.kafka_bootstrap, client_id=settings.effective_gateway_id(),
                    send_timeout_s=send_timeout_s)
