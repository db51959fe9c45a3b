"""Adapters behind ``gctx``: secret providers, and modules that run as their own processes.

An out-of-process module is registered from its manifest (``gati-module.toml``)::

    from gati.modules import process_module
    process_module(app, "examples/users/modules/ids/gati-module.toml")

and then called like any module, ``await gctx.modules.ids.hash_password("pw")``: through
the same effect ledger, so it is recorded and replays from the record without starting
the process. docs/module-protocol.md is the protocol a module in any language speaks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gati.core.app import App
from gati.core.context import SecretSource
from gati.modules.errors import (
    CapabilityDenied,
    ModuleCallFailed,
    ModuleCrashed,
    ModuleError,
    ModuleProtocolError,
    ModuleUnavailable,
)
from gati.modules.secrets import EnvSecrets, FileSecrets
from gati.modules.spec import Capabilities, Limits, ProcessSpec, RestartPolicy, load_spec
from gati.modules.supervisor import ModuleStats, ProcessModule


class ProcessModuleFactory:
    """What ``app.module`` registers: builds the supervisor; the manifest reads ``spec``."""

    def __init__(self, spec: ProcessSpec, secrets: list[SecretSource] | None = None) -> None:
        self.spec = spec
        self._secrets = secrets

    def __call__(self, config: Any) -> ProcessModule:
        # The worker's own secret sources (GATI_SECRETS_ENV_PREFIX, GATI_SECRETS_DIR), so
        # a module's declared secret is looked up where gctx.secrets looks.
        from gati.config import from_env
        from gati.wiring import secret_sources

        return ProcessModule(self.spec, secrets=self._secrets or secret_sources(from_env()))


def process_module(app: App, spec: ProcessSpec | str | Path, *, retries: int = 0,
                   journal: bool = True, secrets: list[SecretSource] | None = None,
                   sandbox: bool = True) -> ProcessSpec:
    """Register an out-of-process module from its manifest (a path or a ``ProcessSpec``).

    The call timeout is the manifest's ``limits.timeout_s``; ``retries`` retries a call
    that failed because its process crashed (``ModuleCrashed`` is a ``ConnectionError``).
    """
    if not isinstance(spec, ProcessSpec):
        spec = load_spec(spec, sandbox=sandbox)
    app.module(spec.name, timeout_s=spec.limits.timeout_s, retries=retries,
               journal=journal)(ProcessModuleFactory(spec, secrets))
    return spec


__all__ = [
    "Capabilities",
    "CapabilityDenied",
    "EnvSecrets",
    "FileSecrets",
    "Limits",
    "ModuleCallFailed",
    "ModuleCrashed",
    "ModuleError",
    "ModuleProtocolError",
    "ModuleStats",
    "ModuleUnavailable",
    "ProcessModule",
    "ProcessModuleFactory",
    "ProcessSpec",
    "RestartPolicy",
    "load_spec",
    "process_module",
]
