"""Errors of out-of-process modules, as a handler (and its recorded effect) sees them.

Each is recorded as the module call's error with its class path, so a replay rebuilds
the same class from the record without starting the module. A crash or protocol
violation is also a ``ConnectionError``: a module's ``retries`` policy (whose default
``retry_on`` includes ``ConnectionError``) then retries it on the restarted process.
"""

from __future__ import annotations

from gati.errors import GatiError


class ModuleError(GatiError):
    """Something went wrong between the worker and a module process."""

    code = "module_error"
    status = 502


class ModuleCrashed(ModuleError, ConnectionError):
    """The process exited, was killed or was restarted while the call was in flight."""

    code = "module_crashed"


class ModuleProtocolError(ModuleError, ConnectionError):
    """The process broke the protocol (a malformed, oversized or unexpected frame); it is
    restarted and its calls in flight fail with this."""

    code = "module_protocol_error"


class ModuleUnavailable(ModuleError):
    """No process can take the call: not started, failing its handshake, or its circuit
    breaker is open after repeated crashes."""

    code = "module_unavailable"
    status = 503


class ModuleCallFailed(ModuleError):
    """The module answered the call with an error object; its code is in the message."""

    code = "module_call_failed"
    status = 500


class CapabilityDenied(ModuleError):
    """A module asked the worker for something its manifest does not declare."""

    code = "capability_denied"
    status = 403
