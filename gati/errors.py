"""Gati's one error root and its tree: every error Gati raises on purpose.

Every error carries a stable ``code``: it is what lifecycle events record and what HTTP
error bodies expose, so it must never change once released. ``status`` is the HTTP
status it answers with when it ends a request. The whole tree, with where each class
lives (``tests/unit/test_error_tree.py`` holds it to the code)::

    GatiError [gati_error]
    ├── ConfigError [config_error]               config / CLI input that cannot be used
    ├── AppError [app_error]                     an app that cannot be loaded or registered
    │   ├── MetricsError [metrics_error]         observability.metrics: a clashing metric
    │   └── PolicyError [policy_error]           policy: a route or auth option not honoured
    ├── RoutingError [not_found] 404             no route
    │   └── MethodNotAllowed [method_not_allowed] 405
    ├── RequestError [bad_request] 400           a request the handler must not see
    │   ├── ValidationFailed [validation_failed] types.contract: breaks its contract
    │   └── TransformFailed [transform_failed]   a version's request transformer failed
    ├── CodecError [codec_error]                 bytes that are not a message we accept
    │   └── UnknownBodySchema [body_schema_unknown]  codec.bodies
    ├── StoreError [store_error]                 the database refused (store.errors maps it)
    │   ├── StoreUnavailable [store_unavailable] 503  the database cannot be reached now
    │   ├── SchemaNotFound [schema_not_found] 404     store.schemas
    │   └── SchemaIncompatible [schema_incompatible] 409  store.schemas
    ├── BackendUnavailable [backend_unavailable] 503  the log cannot take or give messages
    ├── ReplayDivergence [replay_divergence]     a replay that did not follow the record
    ├── ReplayError [replay_error]               replay.record: a replay that cannot run
    ├── TimescapeError [timescape_error]         store.versions: an operator action refused
    ├── VersionNotFound [unknown_version] 404    core.timescape
    ├── MalformedVersion [malformed_version] 400 core.timescape
    ├── VersionUnavailable [version_unavailable] 503  core.timescape: none can serve
    ├── HandlerTimeout [handler_timeout] 504     core.lcc
    ├── HookTimeout [hook_timeout] 504           core.hooks
    ├── ModuleTimeout [module_timeout] 504       core.effects (also a TimeoutError)
    ├── JournalUnavailable [journal_unavailable] 503  core.effects: intent not durable
    ├── EffectOutcomeUnknown [effect_outcome_unknown] core.effects: cut off mid-call
    ├── UnknownModule [unknown_module]           core.context: gctx.modules.<name>
    ├── SecretNotFound [secret_not_found]        core.context: gctx.secrets.get
    ├── ResponseAlreadySent [response_already_sent]  core.http
    ├── ScriptError [script_error]               testing: a module call no script covers
    │   ├── UnscriptedCall [unscripted_call]
    │   └── ScriptExhausted [script_exhausted]
    ├── TokenRefused [token_refused] 401         policy: a credential the gateway refused
    │   └── UnknownKey [unknown_key] 401         signed by a key the JWKS does not have
    ├── ModuleError [module_error] 502          modules: the worker and a module process
    │   ├── ModuleCrashed [module_crashed]       exited mid-call (also a ConnectionError)
    │   ├── ModuleProtocolError [module_protocol_error]  a bad frame (also a ConnectionError)
    │   ├── ModuleUnavailable [module_unavailable] 503  not serving, or circuit open
    │   ├── ModuleCallFailed [module_call_failed] 500  the module answered an error
    │   └── CapabilityDenied [capability_denied] 403  asked for what it did not declare
    ├── RegistryError [registry_error]           registry: a schema registry API refusal
    └── SimulationError [simulation_error]       simulate: a run that cannot be made

Outside the tree on purpose: ``simulate.InjectedFailure`` is a ``ConnectionError``
(it stands for a module's transport failing, so retry policies treat it as one);
``replay.ledger.ReplayedModuleError`` stands for a recorded *module* error whose class
could not be rebuilt; ``codegen``'s ``GatiApiError`` lives in generated clients, which
do not depend on Gati; ``http_body.BodyTooLarge`` is answered by each server in its own
error format.
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


class TransformFailed(RequestError):
    """A request transformer between the asked-for version and the serving one failed."""

    code = "transform_failed"
