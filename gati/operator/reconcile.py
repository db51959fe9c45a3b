"""One reconcile of a ``GatiApp``: read the world, apply the rendered objects, say how it is.

Called on every event and on a timer, and safe to interrupt anywhere: it keeps no state
of its own between calls. What it must remember (which image has migrated, the worker
count and when it last changed) is in the resource's status, written after the objects;
a reconcile cut off before that write redoes the same server-side applies next time.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gati.errors import ConfigError, GatiError
from gati.k8s import conditions as cond
from gati.k8s import decommission, scaling
from gati.k8s.render import Owner, labels, migration_job, migration_job_name, render
from gati.k8s.spec import AppSpec, SecretKey, parse_spec
from gati.operator import probes
from gati.operator.kube import Kube

log = logging.getLogger(__name__)
_PRUNED = (("apps/v1", "Deployment"), ("v1", "Service"), ("policy/v1", "PodDisruptionBudget"),
           ("batch/v1", "Job"))


# ConfigError codes -> the condition reason they are reported under.
_REASONS = {"secret_missing": "SecretMissing"}


@dataclass(frozen=True, slots=True)
class Migration:
    image: str | None  # the image the processes run: its migration completed
    migrating: str | None  # why we wait, while a Job runs
    failed: str | None


async def _secret_value(kube: Kube, namespace: str, ref: SecretKey, what: str) -> str:
    secret = await kube.get("v1", "Secret", namespace, ref.name)
    if secret is None:
        raise ConfigError(f"{what}: Secret {namespace}/{ref.name} does not exist",
                          code="secret_missing")
    data = secret.get("data") or {}
    if ref.key not in data:
        raise ConfigError(f"{what}: Secret {namespace}/{ref.name} has no key {ref.key!r}",
                          code="secret_missing")
    return base64.b64decode(data[ref.key]).decode()


async def _migrate(kube: Kube, ns: str, name: str, app: AppSpec, owner: Owner,
                   status: dict[str, Any]) -> Migration:
    """The image whose ``gati migrate`` Job has completed; starts that Job when needed."""
    running = status.get("image")
    if running == app.image:
        return Migration(running, None, None)
    job_name = migration_job_name(name, app.image)
    job = await kube.get("batch/v1", "Job", ns, job_name)
    if job is None:
        job = await kube.apply(migration_job(name, ns, app, owner))
    js = job.get("status") or {}
    done = {c.get("type") for c in js.get("conditions") or [] if c.get("status") == "True"}
    if "Complete" in done or "SuccessCriteriaMet" in done:
        return Migration(app.image, None, None)
    if "Failed" in done:
        msg = (f"Job {job_name} (gati migrate for {app.image}) failed; "
               f"{running or 'nothing'} keeps running")
        return Migration(running, None, msg)
    msg = f"waiting for Job {job_name} (gati migrate for {app.image}) to complete"
    return Migration(running, msg, None)


async def _scale(app: AppSpec, bootstrap: str, status: dict[str, Any],
                 now: float) -> tuple[scaling.ScaleState, dict[str, Any]]:
    role = app.roles["worker"]
    prev = status.get("workers") or {}
    current = None
    if isinstance(prev.get("replicas"), int):
        current = scaling.ScaleState(prev["replicas"], float(prev.get("lastScaleTime") or 0))
    if not role.scales:
        state = scaling.ScaleState(role.min_replicas, current.changed_at if current else now)
        return state, state.to_status(None, None)
    try:
        lag = await probes.consumer_lag(bootstrap, f"{app.topic_prefix}-worker",
                                        f"{app.topic_prefix}.requests")
    except Exception as exc:  # the broker is down: keep the count, say why
        log.warning("reading consumer lag failed: %s", type(exc).__name__)
        state = current or scaling.ScaleState(role.min_replicas, now)
        error = f"lag unreadable: {type(exc).__name__}"
        return state, {**state.to_status(None, None), "error": error}
    state = scaling.decide(current, lag.total, lag.partitions, role, app.scaling, now)
    return state, state.to_status(lag.total, lag.partitions)


async def _prune(kube: Kube, ns: str, name: str, keep: set[tuple[str, str]],
                 *, deployments: bool) -> None:
    """Delete this app's objects that the spec no longer asks for (a role set to 0).

    Deployments are left alone while no image has migrated (``deployments=False``): a
    status lost or wiped must not take down processes that serve.
    """
    sel = f"app.kubernetes.io/instance={name},app.kubernetes.io/managed-by=gati-operator"
    for api_version, kind in _PRUNED:
        if kind == "Deployment" and not deployments:
            continue
        for obj in await kube.list(api_version, kind, ns, sel):
            obj_name = obj["metadata"]["name"]
            if (kind, obj_name) not in keep:
                await kube.delete(api_version, kind, ns, obj_name)


async def _pending(kube: Kube, ns: str, objs: list[dict[str, Any]]) -> list[str]:
    """Deployments not yet at their replicas on the new template, in words."""
    out = []
    for obj in objs:
        if obj["kind"] != "Deployment":
            continue
        dep = await kube.get("apps/v1", "Deployment", ns, obj["metadata"]["name"])
        if dep is None:
            out.append(f"{obj['metadata']['name']}: not created yet")
            continue
        want = dep["spec"].get("replicas", 1)
        st = dep.get("status") or {}
        fresh = st.get("observedGeneration", 0) >= dep["metadata"].get("generation", 1)
        updated, avail = st.get("updatedReplicas", 0), st.get("availableReplicas", 0)
        if not (fresh and updated >= want and avail >= want and st.get("replicas", 0) <= want):
            out.append(f"{obj['metadata']['name']}: {avail}/{want} available, {updated} updated")
    return out


async def _versions(app: AppSpec, database_url: str, status: dict[str, Any]) -> Any:
    if not app.decommission.enabled:
        return status.get("versions")
    try:
        facts = await probes.version_facts(database_url)
        verdicts = decommission.judge(facts, app.decommission, datetime.now(UTC))
        retired = await probes.retire(database_url, verdicts, app.decommission)
    except GatiError as exc:
        return {**(status.get("versions") or {}), "error": exc.message}
    before = {(d["handler"], d["version"]): d["reason"]
              for d in (status.get("versions") or {}).get("deactivated", [])}
    return decommission.summary(verdicts, {**before, **retired})


def _stamp(status: dict[str, Any], conds: list[cond.Condition], gen: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return cond.merge(status.get("conditions"), conds, generation=gen, now=now)


async def converge(
    kube: Kube, resource: dict[str, Any], *, now: float | None = None
) -> dict[str, Any]:
    """Reconcile one resource; returns the status to write (the caller writes it)."""
    meta, status = resource["metadata"], dict(resource.get("status") or {})
    name, ns, gen = meta["name"], meta["namespace"], int(meta.get("generation", 1))
    try:
        app = parse_spec(resource.get("spec") or {})
        bootstrap = await _secret_value(kube, ns, app.kafka, "spec.kafka.bootstrapSecret")
        db_url = await _secret_value(kube, ns, app.database, "spec.database.urlSecret")
    except ConfigError as bad:
        reason = _REASONS.get(bad.code, "InvalidSpec")
        stamped = _stamp(status, cond.invalid(reason, bad.message), gen)
        return {"observedGeneration": gen, "conditions": stamped}
    owner = Owner(name, meta["uid"])
    mig = await _migrate(kube, ns, name, app, owner, status)
    state, workers = await _scale(app, bootstrap, status, time.time() if now is None else now)
    objs = render(name, ns, app, owner=owner, image=mig.image, workers=state.replicas,
                  with_migration=False)
    for obj in objs:
        await kube.apply(obj)
    keep = {(o["kind"], o["metadata"]["name"]) for o in objs}
    keep.add(("Job", migration_job_name(name, app.image)))
    await _prune(kube, ns, name, keep, deployments=mig.image is not None)
    pending = await _pending(kube, ns, objs)
    conds = cond.rollout(migrating=mig.migrating, failed=mig.failed, pending=pending)
    return {
        "observedGeneration": gen, "image": mig.image, "workers": workers,
        "conditions": _stamp(status, conds, gen),
        "versions": await _versions(app, db_url, status),
        "selector": ",".join(f"{k}={v}" for k, v in labels(name, "worker").items()),
    }
