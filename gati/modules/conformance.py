"""``gati modules check CMD...``: a module author's test of their module against the protocol.

It starts the command as the worker would (optionally sandboxed) and checks, one
finding per line: the handshake, health, that every declared method answers arguments
of its declared types with a result of its declared type (or an error object), that an
unknown method and missing arguments are errors with the right codes and not crashes,
and that a cancelled call and an expired deadline are answered. It never needs the
module's source or language: only its command line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from gati.errors import ConfigError
from gati.modules import protocol as p
from gati.modules.errors import ModuleCallFailed, ModuleError
from gati.modules.process import ModuleProcess
from gati.modules.sandbox import module_env, sandboxed_argv
from gati.modules.spec import Limits, ProcessSpec

SAMPLES: dict[str, Any] = {"string": "conformance", "integer": 1, "number": 0.5,
                           "boolean": True, "object": {}, "array": [], "null": None}
PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),)}


@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    check: str
    detail: str

    def render(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.check}: {self.detail}"


def _sample(schema: Mapping[str, Any]) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    return SAMPLES.get(kind, "conformance") if isinstance(kind, str) else "conformance"


def _conforms(value: Any, schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if not isinstance(kind, str) or kind not in PY_TYPES:
        return True
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, PY_TYPES[kind])


async def check_module(argv: list[str], *, root: str = ".", runtime: str = "executable",
                       sandbox: bool = True, timeout_s: float = 5.0) -> list[Finding]:
    """Run every check against a fresh process of ``argv``; stops early only if the
    handshake fails (nothing else can be checked then)."""
    spec = ProcessSpec(name="conformance", runtime=runtime, entry=tuple(argv),
                       methods=(), root=root, sandbox=sandbox,
                       limits=Limits(timeout_s=timeout_s, handshake_timeout_s=timeout_s))
    findings: list[Finding] = []
    try:
        proc = ModuleProcess(spec, sandboxed_argv(spec), module_env(spec))
        hello = await proc.start()
    except (ModuleError, OSError, ConfigError) as exc:
        return [Finding(False, "handshake", str(exc))]
    findings.append(Finding(True, "handshake", f"{hello.name} {hello.version}, protocol "
                            f"{hello.protocol}, {len(hello.methods)} methods"))
    try:
        findings += await _run(proc, hello, replace(spec, name=hello.name), timeout_s)
    finally:
        await proc.close()
    return findings


async def _run(proc: ModuleProcess, hello: p.Handshake, spec: ProcessSpec,
               timeout_s: float) -> list[Finding]:
    out: list[Finding] = []

    async def call(method: str, params: Mapping[str, Any],
                   deadline_s: float | None = None) -> tuple[str, Any]:
        """("result", value), ("error", message) or ("none", why there is no answer)."""
        try:
            return "result", await asyncio.wait_for(proc.call(method, params, deadline_s),
                                                    timeout_s)
        except ModuleCallFailed as exc:
            return "error", exc.message
        except TimeoutError:
            return "none", f"no answer within {timeout_s}s"
        except ModuleError as exc:
            return "none", exc.message

    got, value = await call(p.PING, {})
    out.append(Finding(got == "result", "health",
                       "gati.ping answered" if got == "result" else f"{got}: {value}"))
    got, value = await call("gati.conformance.no_such_method", {})
    out.append(Finding(got == "error" and f"[{p.METHOD_NOT_FOUND}]" in str(value),
                       "unknown method", f"answers {value!r}"))
    for method in hello.methods:
        out += await _method_checks(call, method)
    out.append(await _cancellation(proc, hello, timeout_s))
    out.append(Finding(proc.alive, "alive", "the process survived every check"
                       if proc.alive else "the process died during the checks"))
    return out


async def _method_checks(call: Any, method: p.MethodDecl) -> list[Finding]:
    where = f"method {method.name}"
    args = {name: _sample(schema) for name, schema in method.params}
    got, value = await call(method.name, args)
    typed = got != "result" or _conforms(value, method.returns)
    detail = f"{args} -> {got} {str(value)[:80]!r}"
    if not typed:
        detail += f", not of the declared type {dict(method.returns)}"
    found = [Finding(got != "none" and typed, where, detail)]
    if method.params:
        got, value = await call(method.name, {})
        found.append(Finding(got == "error", f"{where} without arguments",
                             f"answers an error {value!r}" if got == "error" else
                             f"{got} {value!r}, expected an error (code {p.INVALID_PARAMS})"))
    return found


async def _cancellation(proc: ModuleProcess, hello: p.Handshake, timeout_s: float) -> Finding:
    """A call cancelled at once must not break the process: the next call is answered."""
    if not hello.methods:
        return Finding(True, "cancellation", "no methods to cancel")
    method = hello.methods[0]
    task = asyncio.ensure_future(proc.call(
        method.name, {n: _sample(s) for n, s in method.params}, deadline_s=0.001))
    await asyncio.sleep(0)  # let the request go out before cancelling it
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    try:
        await asyncio.wait_for(proc.call(p.PING, {}), timeout_s)
    except (ModuleError, TimeoutError) as exc:
        return Finding(False, "cancellation", f"after gati.cancel the module no longer "
                       f"answers: {exc!r}")
    return Finding(True, "cancellation", f"{method.name} cancelled; the module answers on")
