"""``lctx`` (one request's state and controls) and ``gctx`` (what all requests share).

``GlobalContext`` is a per-request view over the worker's shared ``Services``: the
modules it hands out are bound to this request's effect ledger, so every call is
recorded in the right timeline without any global or context-variable state.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar, cast

from gati.core.effects import CallPolicy, Effects, ModuleProxy
from gati.core.envelopes import Stage
from gati.core.hooks import Hook, HookKind, HookLevel, HookSet, as_hook
from gati.core.observe import Metrics, NoMetrics
from gati.core.record import LogLine, Sleep
from gati.core.redact import Redactor, Secret
from gati.core.scope import Publication, RequestScope
from gati.errors import GatiError
from gati.policy import Principal

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RequestMeta:
    request_id: str
    method: str
    path: str
    handler_id: str | None
    received_at_us: int
    deadline_at_us: int
    version: str | None = None
    flags: Mapping[str, str] = field(default_factory=dict)
    # Who the gateway authenticated (recorded, so replay sees the same one); None: nobody.
    principal: Principal | None = None


@dataclass(frozen=True, slots=True)
class TaskState:
    name: str
    status: str  # pending, done, failed, cancelled


@dataclass(frozen=True, slots=True)
class Snapshot:
    """lctx at one instant: enough to inspect it, or to resume a replay from it."""

    state: dict[str, Any]
    tasks: tuple[TaskState, ...]
    hook_index: int
    handler_version: str | None
    label: str


class RequestLog:
    """``lctx.log``: log lines that belong to the request's timeline."""

    __slots__ = ("_scope",)

    def __init__(self, scope: RequestScope) -> None:
        self._scope = scope

    def _line(self, level: str, message: str, fields: dict[str, Any]) -> None:
        self._scope.record(Stage.LOG, detail=LogLine(level, message, fields).to_detail())

    def debug(self, message: str, **fields: Any) -> None:
        self._line("debug", message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._line("info", message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._line("warning", message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._line("error", message, fields)


Subscriber = Callable[[Any], Awaitable[None] | None]


class LocalContext:
    """State and controls that live exactly as long as one request."""

    def __init__(self, meta: RequestMeta, scope: RequestScope, effects: Effects) -> None:
        self.meta = meta
        self._scope = scope
        self._effects = effects
        self._state: dict[str, Any] = {}
        self.hooks = HookSet.empty()
        self.hook_index = 0
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._compensations: list[tuple[str, Callable[[], Any]]] = []
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self.log = RequestLog(scope)

    # state
    def get(self, key: str, default: Any = None) -> Any:
        return self._state.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._state[key] = value

    def delete(self, key: str) -> None:
        self._state.pop(key, None)

    def clean(self) -> None:
        self._state.clear()

    def keys(self) -> list[str]:
        return list(self._state)

    # local hooks
    def before(self, fn: Hook | Callable[..., Any]) -> None:
        self.hooks.add(as_hook(fn, HookKind.BEFORE, HookLevel.LOCAL))

    def after(self, fn: Hook | Callable[..., Any]) -> None:
        self.hooks.add(as_hook(fn, HookKind.AFTER, HookLevel.LOCAL))

    def catch(self, fn: Hook | Callable[..., Any]) -> None:
        self.hooks.add(as_hook(fn, HookKind.CATCH, HookLevel.LOCAL))

    def cleanup(self, fn: Hook | Callable[..., Any]) -> None:
        self.hooks.add(as_hook(fn, HookKind.CLEANUP, HookLevel.LOCAL))

    # request-scoped publish / subscribe
    def subscribe(self, topic: str, fn: Subscriber) -> None:
        self._subscribers.setdefault(topic, []).append(fn)

    async def publish(self, topic: str, payload: Any) -> int:
        """Deliver to this request's subscribers of ``topic``; returns how many got it."""
        subscribers = list(self._subscribers.get(topic, ()))
        self._scope.record(Stage.PUBLISH, detail={"scope": "request", "topic": topic,
                                                  "payload": payload,
                                                  "subscribers": len(subscribers)})
        for fn in subscribers:
            result = fn(payload)
            if asyncio.iscoroutine(result):
                await result
        return len(subscribers)

    # deterministic sources
    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._effects.clock_us() / 1e6, tz=dt.UTC)

    def now_us(self) -> int:
        return self._effects.clock_us()

    def random(self) -> float:
        return self._effects.random()

    def uuid(self) -> str:
        return self._effects.uuid()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, recorded: a replay checks the handler asked for the same wait
        at the same point, and does not wait (``asyncio.sleep`` would, every replay)."""
        if not seconds >= 0:
            raise GatiError(f"lctx.sleep({seconds!r}): seconds must be a number >= 0")

        wanted = Sleep(float(seconds))

        async def wait() -> Sleep:
            await asyncio.sleep(wanted.seconds)
            return wanted

        await self._effects.perform(wanted, wait)

    # compensations
    def compensate(self, fn: Callable[..., Any], *args: Any, name: str | None = None,
                   **kwargs: Any) -> None:
        """Register an undo; on failure they run newest first."""
        label: str = name or getattr(fn, "__qualname__", None) or repr(fn)
        self._compensations.append((label, lambda: fn(*args, **kwargs)))

    @property
    def compensations(self) -> list[tuple[str, Callable[[], Any]]]:
        return list(self._compensations)

    # outstanding tasks
    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Start background work owned by this request (cancelled when it ends)."""
        label = name or f"task-{len(self._tasks)}"
        if label in self._tasks:
            raise GatiError(f"a task named {label!r} already exists in this request")
        task = asyncio.get_running_loop().create_task(coro, name=label)
        self._tasks[label] = task
        return task

    def task_states(self) -> tuple[TaskState, ...]:
        return tuple(TaskState(name, _task_status(t)) for name, t in self._tasks.items())

    async def cancel_tasks(self) -> None:
        pending = [t for t in self._tasks.values() if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    # snapshots
    def snapshot(self, label: str = "manual") -> Snapshot:
        """Copy lctx now and record it as a ``snapshot`` step."""
        snap = Snapshot(
            state=copy.deepcopy(self._state), tasks=self.task_states(),
            hook_index=self.hook_index, handler_version=self.meta.version, label=label,
        )
        self._scope.record(Stage.SNAPSHOT, detail=snap)
        return snap

    def restore(self, snap: Snapshot) -> None:
        self._state = copy.deepcopy(snap.state)
        self.hook_index = snap.hook_index


def _task_status(task: asyncio.Task[Any]) -> str:
    if not task.done():
        return "pending"
    if task.cancelled():
        return "cancelled"
    return "failed" if task.exception() is not None else "done"


class UnknownModule(GatiError):
    code = "unknown_module"


class SecretNotFound(GatiError):
    code = "secret_not_found"


class SecretSource:
    """The port ``gctx.secrets`` reads through (environment, files, a vault...)."""

    def lookup(self, name: str) -> str | None:
        raise NotImplementedError


class RequestSecrets:
    """``gctx.secrets`` for one request: each lookup is an effect (name and found, no value)."""

    __slots__ = ("_effects", "_secrets")

    def __init__(self, secrets: Secrets, effects: Effects) -> None:
        self._secrets = secrets
        self._effects = effects

    def get(self, name: str) -> Secret:
        return self._effects.secret(name, lambda: self._secrets.get(name))


class Secrets:
    """The worker's secrets: values come back as ``Secret`` and are registered for redaction."""

    def __init__(self, sources: list[SecretSource], redactor: Redactor) -> None:
        self._sources = sources
        self._redactor = redactor

    def get(self, name: str) -> Secret:
        for source in self._sources:
            value = source.lookup(name)
            if value is not None:
                self._redactor.register(value)
                return Secret(name, value, self._redactor)
        raise SecretNotFound(f"secret {name!r} is not defined")


@dataclass(slots=True)
class ModuleEntry:
    instance: Any
    policy: CallPolicy


@dataclass(slots=True)
class Services:
    """What a worker shares between requests; built once at start."""

    modules: dict[str, ModuleEntry]
    config: Mapping[str, Any]
    redactor: Redactor = field(default_factory=Redactor)
    secrets: Secrets | None = None
    metrics: Metrics = field(default_factory=NoMetrics)
    versions: Callable[[str], list[str]] = field(default=lambda _h: [])

    def __post_init__(self) -> None:
        self.config = MappingProxyType(dict(self.config))
        if self.secrets is None:
            self.secrets = Secrets([], self.redactor)


class ModuleRegistry:
    """``gctx.modules``: this request's recorded view of the worker's modules."""

    __slots__ = ("_effects", "_entries", "_proxies")

    def __init__(self, entries: Mapping[str, ModuleEntry], effects: Effects) -> None:
        self._entries = entries
        self._effects = effects
        self._proxies: dict[str, ModuleProxy] = {}

    def __getattr__(self, name: str) -> Any:
        return self.get(name)

    def get(self, name: str, kind: type[T] | None = None) -> T:
        """The module ``name``, typed as ``kind`` for static checkers."""
        proxy = self._proxies.get(name)
        if proxy is None:
            entry = self._entries.get(name)
            if entry is None:
                known = ", ".join(sorted(self._entries)) or "none"
                raise UnknownModule(f"no module named {name!r} (registered: {known})")
            proxy = ModuleProxy(name, entry.instance, self._effects, entry.policy)
            self._proxies[name] = proxy
        return cast(T, proxy)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)


class Timescape:
    """``gctx.timescape``: which versions of a handler exist."""

    __slots__ = ("_versions",)

    def __init__(self, versions: Callable[[str], list[str]]) -> None:
        self._versions = versions

    def versions(self, handler_id: str) -> list[str]:
        return self._versions(handler_id)


class GlobalContext:
    """``gctx`` as one request sees it."""

    __slots__ = ("_scope", "config", "metrics", "modules", "secrets", "timescape")

    def __init__(self, services: Services, scope: RequestScope, effects: Effects) -> None:
        self.modules = ModuleRegistry(services.modules, effects)
        self.config: Mapping[str, Any] = services.config
        assert services.secrets is not None
        self.secrets = RequestSecrets(services.secrets, effects)
        self.metrics = services.metrics
        self.timescape = Timescape(services.versions)
        self._scope = scope

    async def publish(self, topic: str, payload: Any) -> None:
        """Publish to ``gati.events.<topic>``; sent with the request's outcome."""
        if not topic or not all(c.isalnum() or c in "._-" for c in topic):
            raise GatiError(f"event topic {topic!r} may only contain letters, digits, . _ -")
        self._scope.outbox.append(Publication(topic, payload))
        self._scope.record(Stage.PUBLISH, detail={"scope": "global", "topic": topic,
                                                  "payload": payload})
