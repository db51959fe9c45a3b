"""What a worker does with one RequestEnvelope: route, parse, run the LCC, answer.

Pure apart from calling user code: the caller supplies the clock, the shared services
and an effects factory (live, or replaying a record), and sends the outcome (response,
lifecycle events, publications) wherever its backend needs. Every way a request can end
produces exactly one ``responded`` event, so "what happened to request X" always has an
answer in the record.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, TypeVar

from gati.core.app import App, HandlerSpec
from gati.core.context import GlobalContext, LocalContext, RequestMeta, Services, Snapshot
from gati.core.effects import CallPolicy, Effects, LiveEffects
from gati.core.envelopes import LifecycleEvent, RequestEnvelope, ResponseEnvelope, Stage
from gati.core.gates import GatePoints
from gati.core.http import Request, Response, error_body
from gati.core.lcc import Failure, LocalContextController, failure_of
from gati.core.observe import NoTracer, Tracer
from gati.core.ports import Clock
from gati.core.record import Effect
from gati.core.redact import Secret
from gati.core.routing import Match
from gati.core.scope import RESPONSE_LIMIT, Publication, RequestScope
from gati.core.timescape import Family, HealthTracker, Plan, VersionUnavailable
from gati.errors import GatiError, MethodNotAllowed, RoutingError, TransformFailed
from gati.policy import admit
from gati.types.contract import ValidationFailed
from gati.types.secrets import secret_strings

_JSON = (("content-type", "application/json"),)
EffectsFactory = Callable[[RequestScope], Effects]


SnapshotMode = Literal["off", "on_error", "always"]
_SNAPSHOT_MODES: dict[str, SnapshotMode] = {"off": "off", "on_error": "on_error",
                                            "always": "always"}


@dataclass(frozen=True, slots=True)
class SnapshotPolicy:
    """When the LCC snapshots lctx: ``mode``, or for a ``sampled`` share, always.

    Parsed once from its text (``off``, ``on_error``, ``always``, ``sampled:<rate>``);
    per request only :meth:`mode_for` runs, which draws the sample from the request id
    so every delivery and replay of one request decides the same way.
    """

    mode: SnapshotMode = "on_error"
    sampled: float | None = None

    @classmethod
    def parse(cls, text: str) -> SnapshotPolicy:
        """The policy ``text`` names.

        Raises:
            ValueError: not off, on_error, always or sampled:<rate between 0 and 1>.
        """
        mode = _SNAPSHOT_MODES.get(text)
        if mode is not None:
            return cls(mode)
        if text.startswith("sampled:"):
            rate = float(text.split(":", 1)[1])
            if 0.0 <= rate <= 1.0:
                return cls("on_error", sampled=rate)
        raise ValueError(f"snapshot policy {text!r} must be off, on_error, always or "
                         "sampled:<rate between 0 and 1>")

    def mode_for(self, request_id: str) -> SnapshotMode:
        if self.sampled is None:
            return self.mode
        digest = hashlib.sha256(request_id.encode()).digest()
        return "always" if int.from_bytes(digest[:8], "big") < self.sampled * 2**64 \
            else "on_error"


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    """How a pipeline records and answers, decided once when it is built.

    ``snapshots``: the default snapshot policy (a handler's own overrides it).
    ``sensitive_values``: the plain sensitive values of an envelope (sealed headers and
    fields), scrubbed from everything the request records. ``details_as_objects``: keep
    each step's detail as the object it was (``Outcome.raw_details``) instead of
    serializing it, for an in-process reader that records nothing.
    """

    snapshots: SnapshotPolicy = field(default_factory=SnapshotPolicy)
    sensitive_values: Callable[[RequestEnvelope], list[str]] | None = None
    details_as_objects: bool = False


@dataclass(frozen=True, slots=True)
class _HandlerPolicy:
    """One handler version's policies, parsed from its spec once."""

    snapshots: SnapshotPolicy
    warn_invalid_response: bool

    @classmethod
    def of(cls, spec: HandlerSpec, default: SnapshotPolicy) -> _HandlerPolicy:
        snapshots = default if spec.snapshots is None else SnapshotPolicy.parse(spec.snapshots)
        return cls(snapshots, spec.invalid_response == "warn")


class VersionState(Protocol):
    """Which versions an operator deactivated (the Timescape registry in the store)."""

    def inactive(self, handler_id: str) -> set[str]: ...

    def tags(self, handler_id: str) -> dict[str, set[str]]:
        """Tags operators added, by version label (code tags are on the versions)."""
        ...


class NoVersionState:
    def inactive(self, handler_id: str) -> set[str]:
        return set()

    def tags(self, handler_id: str) -> dict[str, set[str]]:
        return {}


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the worker knows of this delivery of a request beyond its envelope.

    ``appended_at_us``: when the broker appended the envelope; one appended after the
    gateway's ``accept_by_us`` is refused (its client was answered 503). ``first_seq``,
    ``resumed`` and ``effects``: a later attempt at a request whose worker died, which
    numbers its steps after the earlier attempt's, says so in a ``resumed`` step first,
    and takes the journaled effects from ``effects`` instead of performing them again.
    """

    appended_at_us: int | None = None
    first_seq: int = 0
    resumed: dict[str, Any] | None = None
    effects: EffectsFactory | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    response: ResponseEnvelope
    events: tuple[LifecycleEvent, ...]
    publications: tuple[Publication, ...] = ()
    # Step details as objects, when the pipeline does not serialize them (replay).
    raw_details: tuple[Any, ...] = ()
    # Steps up to this seq are in the log already (written by the effect journal).
    durable_through: int = -1

    @property
    def undurable(self) -> tuple[LifecycleEvent, ...]:
        return tuple(e for e in self.events if e.seq > self.durable_through)


class Pipeline:
    def __init__(
        self,
        app: App,
        services: Services,
        *,
        clock: Clock,
        options: PipelineOptions | None = None,
        worker_id: str | None = None,
        tracer: Tracer | None = None,
        effects: EffectsFactory | None = None,
        versions: VersionState | None = None,
        health: HealthTracker | None = None,
    ) -> None:
        """``options``: policies; the other arguments are the pipeline's collaborators."""
        options = options or PipelineOptions()
        self.options = options
        self.app = app
        self.services = services
        self.clock = clock
        self.worker_id = worker_id
        self.tracer = tracer or NoTracer()
        self.lcc = LocalContextController(app, self.tracer)
        self._effects = effects or LiveEffects
        m = services.metrics
        self._requests = m.counter("gati_requests_total", "Requests answered by the worker",
                                   ("handler", "status"))
        self._latency = m.histogram("gati_handler_seconds", "Time in hooks and handler",
                                    ("handler",))
        self._invalid = m.counter("gati_invalid_responses_total",
                                  "Responses sent despite breaking their contract (warn mode)",
                                  ("handler",))
        self.versions: VersionState = versions or NoVersionState()
        self.health = health or HealthTracker()
        self.on_unhealthy: Callable[[str, str], None] = lambda _h, _v: None
        # Debug gates (gati/core/gates.py): gati dev sets the live ones, replay the record's.
        self.gates: GatePoints | None = None
        self._policies = {
            (spec.handler_id, spec.version): _HandlerPolicy.of(spec, options.snapshots)
            for family in app.families.values() for spec in (v.target for v in family.versions)}

    async def process(self, env: RequestEnvelope, *, resume: Snapshot | None = None,
                      delivery: Delivery | None = None) -> Outcome:
        delivery = delivery or _FIRST
        scope = RequestScope(env.request_id, self.clock, self.services.redactor,
                             worker_id=self.worker_id,
                             serialize=not self.options.details_as_objects,
                             first_seq=delivery.first_seq)
        scope.gates = self.gates
        sensitive_values = self.options.sensitive_values
        if sensitive_values is not None:
            # Longest first: a value that contains another is masked whole.
            scope.local_secrets = tuple(sorted(
                {v for v in sensitive_values(env) if len(v) >= 4}, key=len, reverse=True))
        attrs = {"gati.request_id": env.request_id, "http.method": env.method,
                 "http.target": env.path}
        # A child of the gateway's span (the envelope's context): one trace per request
        # from the client's span on. Tracing reads the envelope, never writes the record.
        with self.tracer.span("gati.request", attrs, parent=env.trace) as span:
            outcome = await self._process(env, scope, resume, delivery)
            span.set_attribute("http.status_code", outcome.response.status)
            span.set_attribute("gati.handler_id", outcome.response.handler_id or "")
        self._requests.inc(handler=outcome.response.handler_id or "-",
                           status=str(outcome.response.status))
        return outcome

    async def _process(self, env: RequestEnvelope, scope: RequestScope,
                       resume: Snapshot | None, delivery: Delivery) -> Outcome:
        if delivery.resumed is not None:
            scope.record(Stage.RESUMED, detail=delivery.resumed)
        scope.record(Stage.RECEIVED, detail={"method": env.method, "path": env.path,
                                             "gateway": env.gateway_id})
        if env.auth is not None:  # replay takes the principal back from this step
            scope.record(Stage.AUTHENTICATED, detail=env.auth.to_detail())
        refused = self._refused(env, scope, delivery)
        if refused is not None:
            return refused
        try:
            match: Match[Family] = self.app.router.match(env.method, env.path)
        except MethodNotAllowed as exc:
            allow = (("allow", ", ".join(exc.allowed)),)
            return self._fail(env, scope, Failure(405, exc.code, exc.message, headers=allow))
        except RoutingError as exc:
            return self._fail(env, scope, Failure(404, exc.code, exc.message))
        family = match.route.target
        scope.handler_id = family.handler_id
        try:
            plan = self._plan(env, scope, family, match)
        except GatiError as exc:
            return self._fail(env, scope, Failure(exc.status, exc.code, exc.message))
        denied = self._admit(env, scope, plan.serving.target)
        if denied is not None:
            return denied
        try:
            req = self._request(env, scope, plan, match)
        except GatiError as exc:
            return self._fail(env, scope, failure_of(exc))
        outcome = await self._run(env, scope, plan.serving.target, req, plan, resume,
                                  delivery.effects)
        if self.health.observe(family.handler_id, plan.serving.label,
                               outcome.response.status, self.clock.now_us()):
            self.on_unhealthy(family.handler_id, plan.serving.label)
        return outcome

    def _refused(self, env: RequestEnvelope, scope: RequestScope,
                 delivery: Delivery) -> Outcome | None:
        """The answer to a request that must not run: appended late, rejected, expired."""
        if _appended_late(env, delivery):
            scope.record(Stage.REFUSED, status=503, error_code="log_unavailable", detail={
                "appended_at_us": delivery.appended_at_us, "accept_by_us": env.accept_by_us})
            return self._answer_failure(env, scope, Failure(
                503, "log_unavailable", "the log took the request after the gateway had "
                "answered 503; it was not run"))
        if env.rejection is not None:
            rej = env.rejection
            scope.record(Stage.REJECTED, status=rej.status, error_code=rej.code)
            return self._answer_failure(env, scope, Failure(rej.status, rej.code, rej.message))
        if self.clock.now_us() > env.deadline_at_us:
            scope.record(Stage.EXPIRED, status=504, error_code="deadline_exceeded")
            return self._answer_failure(env, scope, Failure(
                504, "deadline_exceeded", "the request expired before it was handled"))
        return None

    def _admit(self, env: RequestEnvelope, scope: RequestScope,
               spec: HandlerSpec) -> Outcome | None:
        """The route policy's refusal (401, 403, 413, 400), decided from the recorded
        principal alone, so a replay refuses exactly what the worker refused."""
        denial = admit(spec.policy, env.auth, realm=self.app.auth.realm,
                       body_size=len(env.body), idempotency_key=env.header("idempotency-key"))
        if denial is None:
            return None
        headers = (("www-authenticate", denial.challenge),) if denial.challenge else ()
        return self._fail(env, scope, Failure(denial.status, denial.code, denial.message,
                                              headers=headers))

    def _plan(self, env: RequestEnvelope, scope: RequestScope, family: Family,
              match: Match[Family]) -> Plan:
        """The version that serves the request, and the transformers on the way.

        Raises:
            GatiError: no version can serve it (an unknown or inactive one asked for).
        """
        inactive = self.versions.inactive(family.handler_id)
        requested = family.resolve(env.version_pref, inactive,
                                   self.versions.tags(family.handler_id))
        unhealthy = self.health.unhealthy(family.handler_id, self.clock.now_us())
        try:
            plan = family.plan(requested, inactive | unhealthy)
        except VersionUnavailable:
            # Health only reroutes: with no healthy version to carry the request,
            # the unhealthy one still serves rather than the handler going dark.
            plan = family.plan(requested, inactive)
            unhealthy = set()
        if requested.label in unhealthy and plan.serving is not requested:
            scope.record(Stage.UNHEALTHY, detail={"version": requested.label,
                                                  "served_by": plan.serving.label})
        scope.record(Stage.ROUTED, detail={
            "pattern": family.path, "params": match.params, "version": plan.serving.label,
            "requested_version": requested.label, "preference": env.version_pref,
            "plan": plan.reason,
            **({"unhealthy": sorted(unhealthy)} if unhealthy else {})})
        return plan

    def _request(self, env: RequestEnvelope, scope: RequestScope, plan: Plan,
                 match: Match[Family]) -> Request:
        """The request as the serving version takes it: transformed, then parsed.

        Raises:
            GatiError: a transformer failed, or the body breaks the request contract.
        """
        spec: HandlerSpec = plan.serving.target
        req = Request.from_envelope(env, match.params)
        req = self._transform_request(req, plan, scope)
        if spec.request_contract is None:
            return req
        # Fields typed Secret are scrubbed from everything this request records.
        hidden = secret_strings(spec.request_contract.gtype, req.body)
        if hidden:
            scope.local_secrets = tuple(sorted(
                {*scope.local_secrets, *(h for h in hidden if len(h) >= 4)},
                key=len, reverse=True))
        return replace(req, body=spec.request_contract.parse(req.body))

    def _transform_request(self, req: Request, plan: Plan, scope: RequestScope) -> Request:
        body = req.body
        for step in plan.request_steps:
            try:
                body = step.fn(body)
            except Exception as exc:
                raise TransformFailed(f"request transformer {step.frm} -> {step.to} failed: "
                                      f"{type(exc).__name__}: {exc}") from exc
            scope.record(Stage.TRANSFORM, detail={"direction": "request", "from": step.frm,
                                                  "to": step.to})
        return req if not plan.request_steps else replace(req, body=body)

    def _transform_response(self, res: Response, plan: Plan, scope: RequestScope) -> None:
        if not plan.response_steps or not res.body or res.status_code >= 400:
            return  # error bodies have one shape in every version
        body = json.loads(res.body)
        for step in plan.response_steps:
            body = step.fn(body)
            scope.record(Stage.TRANSFORM, detail={"direction": "response", "from": step.frm,
                                                  "to": step.to})
        res.sent = False
        res.json(body)

    def _policy(self, spec: HandlerSpec) -> _HandlerPolicy:
        key = (spec.handler_id, spec.version)
        policy = self._policies.get(key)
        if policy is None:  # a handler added after the pipeline was built
            policy = self._policies[key] = _HandlerPolicy.of(spec, self.options.snapshots)
        return policy

    def _snapshot_mode(self, spec: HandlerSpec, env: RequestEnvelope) -> SnapshotMode:
        """The snapshot mode of this request: X-Gati-Debug asks for every snapshot."""
        debug = env.header("x-gati-debug")
        if debug and debug.lower() not in ("0", "false", "no"):
            return "always"
        return self._policy(spec).snapshots.mode_for(env.request_id)

    async def _run(self, env: RequestEnvelope, scope: RequestScope, spec: HandlerSpec,
                   req: Request, plan: Plan, resume: Snapshot | None = None,
                   effects_for: EffectsFactory | None = None) -> Outcome:
        effects = _TracedCalls((effects_for or self._effects)(scope), self.tracer, scope)
        meta = RequestMeta(
            request_id=env.request_id, method=env.method, path=env.path,
            handler_id=spec.handler_id, received_at_us=env.received_at_us,
            deadline_at_us=env.deadline_at_us, version=spec.version,
            flags=_flags(env), principal=req.auth,
        )
        lctx = LocalContext(meta, scope, effects)
        gctx = GlobalContext(self.services, scope, effects)
        res = Response()
        remaining = max(0.0, (env.deadline_at_us - self.clock.now_us()) / 1e6)
        timeout = remaining if spec.timeout_s is None else min(spec.timeout_s, remaining)
        started = time.perf_counter()
        failure = await self.lcc.run(spec, req, res, lctx, gctx, scope, timeout,
                                     snapshots=self._snapshot_mode(spec, env), resume=resume)
        self._latency.observe(time.perf_counter() - started, handler=spec.handler_id)
        if failure is not None:
            return self._answer_failure(env, scope, failure)
        if not res.sent:
            # A handler that sets no body answers empty; 200 without a body reads as 204.
            res.empty(204 if res.status_code == 200 else res.status_code)
        if spec.response_contract is not None and res.status_code < 400 and res.value is not None:
            try:
                spec.response_contract.dump(res.value)
            except ValidationFailed as exc:
                if not self._policy(spec).warn_invalid_response:
                    return self._fail(env, scope, failure_of(exc))
                # Sent as the handler made it; the record and the metric say it broke.
                self._invalid.inc(handler=spec.handler_id)
                scope.record(Stage.LOG, detail={
                    "level": "warning", "message": scope.scrub(exc.message),
                    "code": "response_invalid", "issues": exc.to_json()})
            except GatiError as exc:
                return self._fail(env, scope, failure_of(exc))
        try:
            self._transform_response(res, plan, scope)
        except Exception as exc:
            return self._fail(env, scope, Failure(
                500, "transform_failed", f"response transformer failed: {type(exc).__name__}"))
        response = ResponseEnvelope(
            request_id=env.request_id, status=res.status_code, headers=res.frozen_headers(),
            body=res.body, completed_at_us=self.clock.now_us(), handler_id=spec.handler_id,
        )
        scope.record(Stage.RESPONDED, status=res.status_code, detail=_response_detail(response),
                     limit=RESPONSE_LIMIT)
        return _outcome(response, scope)

    def _fail(self, env: RequestEnvelope, scope: RequestScope, failure: Failure) -> Outcome:
        scope.record(Stage.FAILED, status=failure.status, error_code=failure.code,
                     detail={"message": failure.message, **(failure.extra or {})})
        return self._answer_failure(env, scope, failure)

    def _answer_failure(self, env: RequestEnvelope, scope: RequestScope,
                        failure: Failure) -> Outcome:
        message = scope.scrub(failure.message)
        response = ResponseEnvelope(
            request_id=env.request_id, status=failure.status, headers=_JSON + failure.headers,
            body=error_body(failure.status, failure.code, message, env.request_id,
                            **(failure.extra or {})),
            completed_at_us=self.clock.now_us(), handler_id=scope.handler_id,
        )
        scope.record(Stage.RESPONDED, status=failure.status, error_code=failure.code,
                     detail=_response_detail(response), limit=RESPONSE_LIMIT)
        return _outcome(response, scope)


_FIRST = Delivery()
_E = TypeVar("_E", bound=Effect)


class _TracedCalls:
    """An effects ledger whose module calls each get a span under the hook's or the
    handler's; every effect is still recorded (or served) by the ledger it wraps.

    The span names the module and method only: arguments and results may carry
    secrets, and they are in the record already.
    """

    __slots__ = ("_inner", "_scope", "_tracer")

    def __init__(self, inner: Effects, tracer: Tracer, scope: RequestScope) -> None:
        self._inner, self._tracer, self._scope = inner, tracer, scope

    def clock_us(self) -> int:
        return self._inner.clock_us()

    def random(self) -> float:
        return self._inner.random()

    def uuid(self) -> str:
        return self._inner.uuid()

    def secret(self, name: str, lookup: Callable[[], Secret]) -> Secret:
        return self._inner.secret(name, lookup)

    async def perform(self, wanted: _E, act: Callable[[], Awaitable[_E]]) -> _E:
        return await self._inner.perform(wanted, act)

    async def call(self, module: str, method: str, args: tuple[Any, ...],
                   kwargs: dict[str, Any], invoke: Callable[[], Any],
                   policy: CallPolicy) -> Any:
        attrs = {"gati.request_id": self._scope.request_id, "gati.module": module,
                 "gati.method": method}
        with self._tracer.span(f"module {module}.{method}", attrs) as span:
            try:
                return await self._inner.call(module, method, args, kwargs, invoke, policy)
            except Exception as exc:
                span.record_error(exc, self._scope.scrub(str(exc)))
                raise


def _appended_late(env: RequestEnvelope, delivery: Delivery) -> bool:
    return (env.accept_by_us is not None and delivery.appended_at_us is not None
            and delivery.appended_at_us > env.accept_by_us)


def _outcome(response: ResponseEnvelope, scope: RequestScope) -> Outcome:
    return Outcome(response, tuple(scope.events), tuple(scope.outbox), tuple(scope.raw),
                   scope.durable_through)


def _response_detail(response: ResponseEnvelope) -> dict[str, Any]:
    return {"headers": [list(h) for h in response.headers],
            "body_b64": base64.b64encode(response.body).decode()}


def _flags(env: RequestEnvelope) -> dict[str, str]:
    raw = env.header("x-gati-flags")
    if not raw:
        return {}
    flags: dict[str, str] = {}
    for part in raw.split(","):
        name, _, value = part.strip().partition("=")
        if name:
            flags[name] = value or "1"
    return flags
