"""Gati's one error root and its small tree.

Every error carries a stable ``code``: it is what lifecycle events record and what HTTP
error bodies expose, so it must never change once released::

    GatiError
    ├── ConfigError            config / CLI input that cannot be used
    ├── AppError               an app that cannot be loaded or registered
    ├── RoutingError           no route, or method not allowed
    ├── RequestError           a request the handler must not see (bad body, too large)
    ├── CodecError             bytes that are not a message we accept
    ├── StoreError             the database refused or is unreachable
    │   └── StoreUnavailable   the database cannot be reached (gati.store.errors maps it)
    ├── BackendUnavailable     the log (Kafka) cannot take or give messages now
    └── ReplayDivergence       a replay that did not follow the record
"""

from __future__ import annotations


class GatiError(Exception):
    """Root of every error Gati raises on purpose."""

    code = "gati_error"
    status = 500

    def __init__(
        self, message: str, *, code: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        # Response headers the error answer carries (e.g. www-authenticate on a 401).
        self.headers = headers
        if code is not None:
            self.code = code


class ConfigError(GatiError):
    code = "config_error"


class AppError(GatiError):
    code = "app_error"


class RoutingError(GatiError):
    code = "not_found"
    status = 404


class MethodNotAllowed(RoutingError):
    code = "method_not_allowed"
    status = 405

    def __init__(self, message: str, *, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed


class RequestError(GatiError):
    code = "bad_request"
    status = 400

    def __init__(
        self, message: str, *, code: str | None = None, status: int = 400,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message, code=code, headers=headers)
        self.status = status


class CodecError(GatiError):
    code = "codec_error"


class StoreError(GatiError):
    code = "store_error"


class StoreUnavailable(StoreError):
    """The database cannot be reached now; waiting and retrying is the cure."""

    code = "store_unavailable"
    status = 503


class BackendUnavailable(GatiError):
    code = "backend_unavailable"
    status = 503


class ReplayDivergence(GatiError):
    code = "replay_divergence"
