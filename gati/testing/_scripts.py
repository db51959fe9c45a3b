"""Scripted modules: what ``gctx.modules.<name>.<method>()`` answers in a test.

A script maps method names to answers, so a handler can be tested without the database
or mail server its real modules talk to. Calls still go through the request's effect
ledger, so they appear in the result's ``effects`` exactly as they would in the record.

One answer is, checked in this order:

- ``returns(x)``: ``x`` itself, whatever it is (use it to return a list or a callable);
- an exception instance or class: raised;
- a callable: called with the method's arguments; its result (awaited if need be) is
  the answer;
- a ``list``: one answer per call, in order (each item is itself an answer); a call
  beyond the end raises ``ScriptExhausted``;
- anything else: returned as is, on every call.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from gati.errors import GatiError


class ScriptError(GatiError):
    """A test's module script does not cover what the handler did.

    These are bugs in the test, not in the handler, so clients and simulations raise
    them in the test even when the handler (or a catch hook) swallowed them.
    """

    code = "script_error"


class UnscriptedCall(ScriptError):
    code = "unscripted_call"


class ScriptExhausted(ScriptError):
    code = "script_exhausted"


@dataclass(frozen=True, slots=True)
class Returns:
    """An answer returned literally; see ``returns``."""

    value: Any


def returns(value: Any) -> Returns:
    """Answer ``value`` as is, even if it is a list, a callable or an exception."""
    return Returns(value)


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """One call a scripted module received (the live arguments, not their JSON form)."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


class ScriptedModule:
    """A module whose methods answer from a script.

    Any method name can be looked up, so a handler's ``gctx.modules.db.anything`` is an
    effect like any other; a method absent from the script raises ``UnscriptedCall``
    when called, naming the module and method. ``calls`` keeps every call received and
    ``misses`` the script errors not yet reported to the test.

    Args:
        name: the module name, as registered with ``app.module``.
        script: method name -> answer (see the module docstring).
    """

    def __init__(self, name: str, script: Mapping[str, Any] | None = None) -> None:
        script = dict(script or {})
        for method in script:
            if not isinstance(method, str) or not method.isidentifier() or method[0] == "_":
                raise ScriptError(f"module {name!r}: {method!r} is not a public method name")
        self._name = name
        self._script = script
        self._cursor: dict[str, int] = {}
        self.calls: list[ScriptedCall] = []
        # (when, error): clients report the earliest miss across all modules first.
        self._misses: list[tuple[int, ScriptError]] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def scripted(self) -> list[str]:
        return sorted(self._script)

    def calls_to(self, method: str) -> list[ScriptedCall]:
        return [c for c in self.calls if c.method == method]

    @property
    def misses(self) -> list[ScriptError]:
        """Script errors not yet reported to the test, oldest first."""
        return [error for _, error in self._misses]

    def take_misses(self) -> list[tuple[int, ScriptError]]:
        """The script errors since the last take, with when they happened."""
        misses, self._misses = self._misses, []
        return misses

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._answer(method, args, kwargs)

        call.__name__ = method
        return call

    def _answer(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.calls.append(ScriptedCall(method, args, dict(kwargs)))
        if method not in self._script:
            known = ", ".join(self.scripted) or "nothing"
            self._miss(UnscriptedCall(
                f"{self._name}.{method}() was called but is not scripted "
                f"(module {self._name!r} scripts: {known}); add it, e.g. "
                f"modules={{{self._name!r}: {{{method!r}: <answer>}}}}"))
        step = self._script[method]
        if isinstance(step, list):
            n = self._cursor.get(method, 0)
            if n >= len(step):
                self._miss(ScriptExhausted(
                    f"{self._name}.{method}() was scripted for {len(step)} call(s) "
                    f"but was called {n + 1} times"))
            self._cursor[method] = n + 1
            step = step[n]
        return _perform(step, args, kwargs, f"{self._name}.{method}")

    def _miss(self, error: ScriptError) -> NoReturn:
        self._misses.append((time.perf_counter_ns(), error))
        raise error

    def __repr__(self) -> str:
        return f"<ScriptedModule {self._name} scripts={self.scripted}>"


def _perform(step: Any, args: tuple[Any, ...], kwargs: dict[str, Any], where: str) -> Any:
    if isinstance(step, Returns):
        return step.value
    if isinstance(step, BaseException):
        # A fresh traceback each time: the same instance may be raised by many calls.
        raise step.with_traceback(None)
    if isinstance(step, type) and issubclass(step, BaseException):
        raise step(f"scripted failure of {where}()")
    if callable(step):
        return step(*args, **kwargs)
    return step


def as_module(name: str, given: Any) -> Any:
    """A mapping becomes a ``ScriptedModule``; any other object is the module itself."""
    if isinstance(given, Mapping):
        return ScriptedModule(name, given)
    if inspect.isclass(given):
        raise ScriptError(
            f"module {name!r}: got the class {given.__qualname__}; pass an instance "
            "(or a dict script)")
    return given
