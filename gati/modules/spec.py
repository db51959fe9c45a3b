"""A module's own manifest (``gati-module.toml``): how to run it and what it may do.

Written by the module's author beside its entry point and read once at start. The
methods declared here are what handlers may call and what ``gati contracts check`` and
the handshake are held to; the capabilities are what the sandbox and the broker allow,
and nothing else: undeclared means denied.

    name = "ids"
    runtime = "executable"            # or "node", or "wasm" (gati/modules/wasm.py)
    entry = ["./idsvc"]               # relative to this file's directory
    [methods.hash_password]
    params = [{ name = "password", schema = { type = "string" } }]
    returns = { type = "string" }
    [capabilities]
    egress = ["127.0.0.1:8080"]       # host:port, through the worker's broker only
    read = ["/etc/ssl/certs"]         # paths visible read-only (bubblewrap)
    write = []                        # paths visible read-write
    secrets = ["AVATAR_TOKEN"]        # names the module may ask the worker for
    env = ["TZ"]                      # worker environment variables passed through
    [limits]
    timeout_s = 2.0
    concurrency = 16
    memory_mb = 256
    max_frame_bytes = 1048576
    watch_s = 1.0                     # a changed entry file reloads the module
    health_s = 5.0                    # gati.ping this often; a hung process is restarted
    [restart]
    backoff_s = 0.05
    backoff_max_s = 5.0
    breaker_crashes = 5
    breaker_window_s = 30.0
    breaker_open_s = 10.0
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gati.errors import ConfigError
from gati.modules.errors import ModuleProtocolError
from gati.modules.protocol import MethodDecl

RUNTIMES = ("executable", "node", "wasm")


@dataclass(frozen=True, slots=True)
class Capabilities:
    egress: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    env: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Limits:
    timeout_s: float = 10.0
    concurrency: int = 16
    memory_mb: int | None = None
    max_frame_bytes: int = 1 << 20
    handshake_timeout_s: float = 10.0
    # How often the entry and the reload marker are checked for a change (0: never).
    watch_s: float = 1.0
    # How often a gati.ping checks the process answers at all; one unanswered within
    # ``health_timeout_s`` means it hangs: it is killed and restarted (0: never).
    health_s: float = 5.0
    health_timeout_s: float = 2.0


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    backoff_s: float = 0.05
    backoff_max_s: float = 5.0
    breaker_crashes: int = 5
    breaker_window_s: float = 30.0
    breaker_open_s: float = 10.0


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One out-of-process module, as its manifest declares it."""

    name: str
    runtime: str
    entry: tuple[str, ...]
    methods: tuple[MethodDecl, ...]
    capabilities: Capabilities = field(default_factory=Capabilities)
    limits: Limits = field(default_factory=Limits)
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    # The directory the entry and relative paths are resolved against.
    root: str = "."
    # Off only for tests of the unsandboxed path and for machines without namespaces.
    sandbox: bool = True

    def method(self, name: str) -> MethodDecl | None:
        return next((m for m in self.methods if m.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The manifest as the app's manifest embeds it (and fingerprints it)."""
        caps = self.capabilities
        return {
            "name": self.name, "runtime": self.runtime, "entry": list(self.entry),
            "methods": {m.name: m.to_json() for m in self.methods},
            "capabilities": {"egress": list(caps.egress), "read": list(caps.read),
                             "write": list(caps.write), "secrets": list(caps.secrets),
                             "env": list(caps.env)},
            "limits": {"timeout_s": self.limits.timeout_s,
                       "concurrency": self.limits.concurrency,
                       "memory_mb": self.limits.memory_mb,
                       "max_frame_bytes": self.limits.max_frame_bytes},
            "sandbox": self.sandbox,
        }


def load_spec(path: str | Path, *, sandbox: bool = True) -> ProcessSpec:
    """Read ``gati-module.toml``; every mistake is a ``ConfigError`` naming the key."""
    file = Path(path).resolve()
    try:
        raw = tomllib.loads(file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"module manifest {file}: {exc}") from None
    return parse_spec(raw, root=str(file.parent), where=str(file), sandbox=sandbox)


def parse_spec(raw: Mapping[str, Any], *, root: str, where: str = "module manifest",
               sandbox: bool = True) -> ProcessSpec:
    name, runtime, entry = raw.get("name"), raw.get("runtime", "executable"), raw.get("entry")
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"{where}: name must be an identifier, got {name!r}")
    if runtime not in RUNTIMES:
        raise ConfigError(f"{where}: runtime must be one of {RUNTIMES}, got {runtime!r}")
    if isinstance(entry, str):
        entry = [entry]
    if not isinstance(entry, list) or not entry or not all(isinstance(e, str) for e in entry):
        raise ConfigError(f"{where}: entry must be a command as a list of strings")
    try:
        methods = tuple(MethodDecl.from_json(str(k), v)
                        for k, v in sorted(_table(raw, "methods", where).items()))
    except ModuleProtocolError as exc:
        raise ConfigError(f"{where}: {exc.message}") from None
    if not methods:
        raise ConfigError(f"{where}: declares no methods")
    return ProcessSpec(
        name=name, runtime=runtime, entry=tuple(entry), methods=methods,
        capabilities=Capabilities(**{k: _strings(v, f"{where}: capabilities.{k}")
                                     for k, v in _known(raw, "capabilities", Capabilities,
                                                        where).items()}),
        limits=Limits(**_known(raw, "limits", Limits, where)),
        restart=RestartPolicy(**_known(raw, "restart", RestartPolicy, where)),
        root=root, sandbox=sandbox,
    )


def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _known(raw: Mapping[str, Any], key: str, kind: type, where: str) -> dict[str, Any]:
    table = dict(_table(raw, key, where))
    allowed = set(kind.__dataclass_fields__)  # type: ignore[attr-defined]
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: [{key}] has unknown keys {unknown} "
                          f"(known: {sorted(allowed)})")
    for k, v in table.items():
        if isinstance(v, bool) or not isinstance(v, int | float | list | str):
            raise ConfigError(f"{where}: {key}.{k} has an unusable value {v!r}")
    return table


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(value)
