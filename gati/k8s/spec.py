"""A ``GatiApp`` resource's spec, checked once into a frozen value.

The operator and ``gati k8s render`` read the same spec through :func:`parse_spec`, so a
resource the operator refuses is one ``render`` refuses too, with the same words. The API
server's OpenAPI schema (``gati.k8s.crd``) already rejects wrong types; what it cannot
say (an image reference's grammar, ``minReplicas`` above ``maxReplicas``) is said here,
and the operator turns it into a status condition instead of a refused write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gati.errors import ConfigError

ROLES = ("gateway", "worker", "recorder", "playground")
DEFAULT_REPLICAS = {"gateway": 1, "worker": 1, "recorder": 1, "playground": 0}

# The reference grammar of the distribution spec (docker/distribution reference.go),
# written out: [host[:port]/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?/)"
_IMAGE_RE = re.compile(
    rf"^{_HOST}?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[a-f0-9]{{64}})?$"
)
_APP_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_DURATION_RE = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class SecretKey:
    """Where a connection string lives: never copied into a ConfigMap or the status."""

    name: str
    key: str


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    min_replicas: int
    max_replicas: int
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def scales(self) -> bool:
        return self.max_replicas > self.min_replicas


@dataclass(frozen=True, slots=True)
class Scaling:
    lag_per_worker: int = 100
    cooldown_s: int = 300


@dataclass(frozen=True, slots=True)
class Decommission:
    enabled: bool = False
    cold_after_s: int = 7 * 86400
    protected_tags: tuple[str, ...] = ("stable",)


@dataclass(frozen=True, slots=True)
class AppSpec:
    image: str
    app: str
    kafka: SecretKey
    database: SecretKey
    topic_prefix: str = "gati"
    roles: dict[str, Role] = field(default_factory=dict)
    env: tuple[dict[str, Any], ...] = ()
    scaling: Scaling = Scaling()
    decommission: Decommission = Decommission()
    image_pull_policy: str = "IfNotPresent"
    migration_backoff_limit: int = 3

    def role(self, name: str) -> Role:
        return self.roles[name]


def valid_image(image: str) -> bool:
    return bool(_IMAGE_RE.match(image))


def parse_duration(text: str, where: str) -> int:
    """``"90s"``, ``"15m"``, ``"72h"``, ``"7d"`` to seconds."""
    m = _DURATION_RE.match(str(text).strip())
    if not m:
        raise ConfigError(f"{where}: {text!r} is not a duration like 90s, 15m, 72h or 7d")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _secret(spec: dict[str, Any], section: str, sub: str) -> SecretKey:
    ref = (spec.get(section) or {}).get(sub) or {}
    name, key = ref.get("name"), ref.get("key")
    if not name or not key:
        raise ConfigError(f"spec.{section}.{sub} needs a Secret name and key")
    return SecretKey(str(name), str(key))


def _role(name: str, raw: dict[str, Any]) -> Role:
    where = f"spec.roles.{name}"
    if "replicas" in raw:
        lo = hi = int(raw["replicas"])
    else:
        lo = int(raw.get("minReplicas", DEFAULT_REPLICAS[name]))
        hi = int(raw.get("maxReplicas", max(lo, DEFAULT_REPLICAS[name])))
    if lo < 0 or hi < 0:
        raise ConfigError(f"{where}: replicas cannot be negative")
    if lo > hi:
        raise ConfigError(f"{where}: minReplicas {lo} is above maxReplicas {hi}")
    if name != "worker" and lo != hi:
        raise ConfigError(f"{where}: only the worker scales between bounds; give replicas")
    return Role(name, lo, hi, dict(raw.get("resources") or {}))


def _env(raw: list[Any]) -> tuple[dict[str, Any], ...]:
    out = []
    for i, item in enumerate(raw):
        name = (item or {}).get("name", "")
        if not _ENV_RE.match(str(name)):
            raise ConfigError(f"spec.env[{i}].name {name!r} is not an environment variable name")
        if name in ("GATI_KAFKA_BOOTSTRAP", "GATI_DATABASE_URL"):
            raise ConfigError(f"spec.env[{i}]: {name} comes from spec.kafka / spec.database")
        out.append(dict(item))
    return tuple(out)


def _decommission(raw: dict[str, Any]) -> Decommission:
    tags = raw.get("protectedTags", ["stable"])
    return Decommission(
        enabled=bool(raw.get("enabled", False)),
        cold_after_s=parse_duration(raw.get("coldAfter", "7d"), "spec.timescape.coldAfter"),
        protected_tags=tuple(str(t) for t in tags),
    )


def parse_spec(spec: dict[str, Any]) -> AppSpec:
    """The checked spec, or a ConfigError that names the field and what is wrong."""
    image = str(spec.get("image") or "")
    if not valid_image(image):
        raise ConfigError(
            f"spec.image {image!r} is not an image reference (like registry.example.com/shop:1.4)"
        )
    app = str(spec.get("app") or "")
    if not _APP_RE.match(app):
        raise ConfigError(f"spec.app {app!r} must name the app as module:attribute")
    raw_roles = spec.get("roles") or {}
    unknown = sorted(set(raw_roles) - set(ROLES))
    if unknown:
        raise ConfigError(f"spec.roles: unknown role(s) {', '.join(unknown)}; roles: {ROLES}")
    roles = {name: _role(name, dict(raw_roles.get(name) or {})) for name in ROLES}
    scaling = spec.get("scaling") or {}
    lag_per_worker = int(scaling.get("lagPerWorker", 100))
    if lag_per_worker < 1:
        raise ConfigError("spec.scaling.lagPerWorker must be at least 1")
    prefix = str(spec.get("topicPrefix") or "gati")
    if not re.match(r"^[A-Za-z0-9._-]{1,200}$", prefix):
        raise ConfigError(f"spec.topicPrefix {prefix!r} is not a topic name prefix")
    return AppSpec(
        image=image,
        app=app,
        kafka=_secret(spec, "kafka", "bootstrapSecret"),
        database=_secret(spec, "database", "urlSecret"),
        topic_prefix=prefix,
        roles=roles,
        env=_env(list(spec.get("env") or [])),
        scaling=Scaling(
            lag_per_worker=lag_per_worker,
            cooldown_s=parse_duration(scaling.get("cooldown", "5m"), "spec.scaling.cooldown"),
        ),
        decommission=_decommission(dict((spec.get("timescape") or {}).get("decommission") or {})),
        image_pull_policy=str(spec.get("imagePullPolicy") or "IfNotPresent"),
        migration_backoff_limit=int((spec.get("migration") or {}).get("backoffLimit", 3)),
    )
