"""The worker's shared services, built for a test: scripted modules, dict secrets.

Shared by ``GatiTestClient``, ``invoke`` and ``gati.simulate`` so all three see an app the
same way a worker would (module policies, config, secrets, redaction), minus the I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from gati.core.app import App
from gati.core.context import ModuleEntry, SecretSource, Services
from gati.core.effects import CallPolicy, LiveEffects
from gati.core.envelopes import TraceContext
from gati.core.observe import Attributes, Metrics, Span
from gati.core.scope import RequestScope
from gati.testing._scripts import ScriptedModule, ScriptError, as_module
from gati.wiring import app_config, services


class DictSecrets(SecretSource):
    """Secrets from a mapping: ``gctx.secrets.get(name)`` in tests, still redacted."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def lookup(self, name: str) -> str | None:
        return self._values.get(name)


def build_services(
    app: App | None,
    modules: Mapping[str, Any] | None,
    *,
    secrets: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
    metrics: Metrics | None = None,
) -> Services:
    """Services as a worker would build them, with the given modules in place.

    With an ``app``: each registered module keeps its call policy (timeout, retries);
    one not given becomes an empty script, so it fails only if a handler calls it; a
    given name the app does not register is an error (in production it would not
    exist either, and it is usually a typo). Without an app (``invoke``), the given
    modules are all there is, with the default policy.

    Raises:
        ScriptError: a module name the app does not register.
    """
    given = dict(modules or {})
    entries: dict[str, ModuleEntry] = {}
    if app is None:
        for name, module in given.items():
            entries[name] = ModuleEntry(as_module(name, module), CallPolicy())
    else:
        registered = app.modules
        unknown = sorted(set(given) - set(registered))
        if unknown:
            known = ", ".join(sorted(registered)) or "none"
            raise ScriptError(
                f"app {app.name!r} registers no module named {', '.join(map(repr, unknown))} "
                f"(registered: {known})")
        for name, spec in registered.items():
            entries[name] = ModuleEntry(as_module(name, given.get(name, {})), spec.policy)
    return services(app, app_config(app, overrides=config), entries,
                    sources=[DictSecrets(secrets or {})], metrics=metrics)


def scripted_modules(services: Services) -> list[ScriptedModule]:
    return [e.instance for e in services.modules.values()
            if isinstance(e.instance, ScriptedModule)]


def take_misses(services: Services) -> list[ScriptError]:
    """Script errors since the last call, across all scripted modules, oldest first.

    Oldest first because a later miss is often a consequence of the first (a
    compensation calling another unscripted method after the failure).
    """
    misses: list[tuple[int, ScriptError]] = []
    for module in scripted_modules(services):
        misses.extend(module.take_misses())
    misses.sort(key=lambda pair: pair[0])
    return [error for _, error in misses]


def seeded_rng(seed: int | str, key: str) -> random.Random:
    """An rng that depends only on ``seed`` and ``key`` (a string seed is hashed stably)."""
    return random.Random(f"{seed}:{key}")


def seeded_effects(seed: int | str) -> Callable[[RequestScope], LiveEffects]:
    """Live effects whose ``random()`` and ``uuid()`` depend on the seed and request id.

    Keyed by request id rather than drawn from one shared stream, so concurrent
    requests get the same values whatever order they are scheduled in.
    """
    def make(scope: RequestScope) -> LiveEffects:
        return LiveEffects(scope, seeded_rng(seed, scope.request_id))

    return make


class _CapturingSpan:
    __slots__ = ("_errors",)

    def __init__(self, errors: list[BaseException]) -> None:
        self._errors = errors

    def set_attribute(self, key: str, value: str | int | float | bool) -> None:
        return None

    def record_error(self, exc: BaseException, message: str) -> None:
        self._errors.append(exc)


class CapturingTracer:
    """A ``Tracer`` that keeps the exceptions handler and hook spans report.

    The pipeline turns an exception into a 500 body that, by design, says nothing about
    it; a test wants the exception itself. Spans carry the request id, so exceptions of
    concurrent requests are kept apart.
    """

    def __init__(self) -> None:
        self._errors: dict[str, list[BaseException]] = {}

    @contextmanager
    def span(self, name: str, attributes: Attributes, *,
             parent: TraceContext | None = None) -> Iterator[Span]:
        request_id = str(attributes.get("gati.request_id", ""))
        yield _CapturingSpan(self._errors.setdefault(request_id, []))

    def pop(self, request_id: str) -> list[BaseException]:
        return self._errors.pop(request_id, [])
