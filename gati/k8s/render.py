"""The Kubernetes objects of one Gati app, as plain dicts: one builder for both paths.

The operator applies exactly these objects (server-side apply) and ``gati k8s render``
prints exactly these objects for GitOps, so the two can never drift. Pure: no client, no
cluster; what the cluster says (which image has migrated, how many workers the lag
asks for) comes in as arguments.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from gati.k8s.spec import AppSpec

GROUP = "gati.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "GatiApp"
GATEWAY_PORT = 8000
PLAYGROUND_PORT = 8080
MANAGED_BY = "gati-operator"


@dataclass(frozen=True, slots=True)
class Owner:
    """The GatiApp that owns the objects: garbage collection deletes them with it."""

    name: str
    uid: str


def labels(name: str, role: str | None = None) -> dict[str, str]:
    out = {
        "app.kubernetes.io/name": "gati",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if role:
        out["app.kubernetes.io/component"] = role
    return out


def selector(name: str, role: str) -> dict[str, str]:
    return {"app.kubernetes.io/instance": name, "app.kubernetes.io/component": role}


def short_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:10]


def migration_job_name(name: str, image: str) -> str:
    """One Job per image: a new image migrates again, the same image never twice."""
    return f"{name}-migrate-{short_hash(image)}"


def _meta(name: str, namespace: str, obj_name: str, role: str | None,
          owner: Owner | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": obj_name, "namespace": namespace, "labels": labels(name, role)}
    if owner is not None:
        meta["ownerReferences"] = [{
            "apiVersion": API_VERSION, "kind": KIND, "name": owner.name, "uid": owner.uid,
            "controller": True, "blockOwnerDeletion": True,
        }]
    return meta


def config_data(name: str, spec: AppSpec) -> dict[str, str]:
    """Non-secret settings every process reads; connection strings stay in their Secrets."""
    return {"GATI_APP": spec.app, "GATI_TOPIC_PREFIX": spec.topic_prefix}


def _env(name: str, spec: AppSpec) -> list[dict[str, Any]]:
    return [
        {"name": "GATI_KAFKA_BOOTSTRAP",
         "valueFrom": {"secretKeyRef": {"name": spec.kafka.name, "key": spec.kafka.key}}},
        {"name": "GATI_DATABASE_URL",
         "valueFrom": {"secretKeyRef": {"name": spec.database.name, "key": spec.database.key}}},
        *spec.env,
    ]


def _container(name: str, spec: AppSpec, role: str, image: str) -> dict[str, Any]:
    args = {
        "gateway": ["gateway", spec.app, "--host", "0.0.0.0", "--port", str(GATEWAY_PORT)],
        "worker": ["worker", spec.app],
        "recorder": ["recorder"],
        "playground": ["playground", "--host", "0.0.0.0", "--port", str(PLAYGROUND_PORT)],
        "migrate": ["migrate"],
    }[role]
    env = _env(name, spec)
    if role == "worker":  # a stable member id per pod: a restarted pod keeps its partitions
        env.append({"name": "GATI_WORKER_ID",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    if role == "gateway":
        env.append({"name": "GATI_GATEWAY_ID",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    container: dict[str, Any] = {
        "name": role, "image": image, "imagePullPolicy": spec.image_pull_policy,
        "command": ["gati"], "args": args, "env": env,
        "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
    }
    port = {"gateway": GATEWAY_PORT, "playground": PLAYGROUND_PORT}.get(role)
    if port:
        container["ports"] = [{"name": "http", "containerPort": port}]
        container["readinessProbe"] = {"tcpSocket": {"port": port}, "periodSeconds": 5}
    if role in spec.roles and spec.roles[role].resources:
        container["resources"] = spec.roles[role].resources
    return container


def _deployment(name: str, namespace: str, spec: AppSpec, role: str, replicas: int,
                image: str, owner: Owner | None) -> dict[str, Any]:
    config_hash = short_hash(json.dumps([config_data(name, spec), list(spec.env)], sort_keys=True))
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _meta(name, namespace, f"{name}-{role}", role, owner),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector(name, role)},
            # Never below the serving capacity: a new pod must be ready before an old goes.
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels(name, role),
                             "annotations": {"gati.dev/config-hash": config_hash}},
                "spec": {"containers": [_container(name, spec, role, image)],
                         "terminationGracePeriodSeconds": 60},
            },
        },
    }


def _service(name: str, namespace: str, role: str, port: int,
             owner: Owner | None) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _meta(name, namespace, f"{name}-{role}", role, owner),
        "spec": {"selector": selector(name, role),
                 "ports": [{"name": "http", "port": 80, "targetPort": port}]},
    }


def _pdb(name: str, namespace: str, role: str, owner: Owner | None) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": _meta(name, namespace, f"{name}-{role}", role, owner),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(name, role)}},
    }


def migration_job(name: str, namespace: str, spec: AppSpec,
                  owner: Owner | None = None) -> dict[str, Any]:
    """``gati migrate`` with the new image, run to completion before its processes roll."""
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": _meta(name, namespace, migration_job_name(name, spec.image), "migrate", owner),
        "spec": {
            "backoffLimit": spec.migration_backoff_limit,
            "template": {
                "metadata": {"labels": labels(name, "migrate")},
                "spec": {"restartPolicy": "Never",
                         "containers": [_container(name, spec, "migrate", spec.image)]},
            },
        },
    }


def render(
    name: str,
    namespace: str,
    spec: AppSpec,
    *,
    owner: Owner | None = None,
    image: str | None = None,
    workers: int | None = None,
    with_migration: bool = True,
) -> list[dict[str, Any]]:
    """Every object of the app, in the order to apply them.

    ``image`` is the image whose migration has completed (the one the processes run);
    ``None`` before the first migration, when no process may start yet. ``render`` of
    the CLI passes the spec's image and leaves the ordering to the Job's completion.
    ``workers`` is the lag-scaled worker count, clamped to the worker's bounds.
    """
    objs: list[dict[str, Any]] = [{
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": _meta(name, namespace, f"{name}-config", None, owner),
        "data": config_data(name, spec),
    }]
    if with_migration:
        objs.append(migration_job(name, namespace, spec, owner))
    for role_name in ("gateway", "worker", "recorder", "playground"):
        role = spec.roles[role_name]
        replicas = role.min_replicas
        if role_name == "worker" and workers is not None:
            replicas = max(role.min_replicas, min(role.max_replicas, workers))
        if role.max_replicas == 0:
            continue
        if image is not None:
            objs.append(_deployment(name, namespace, spec, role_name, replicas, image, owner))
        port = {"gateway": GATEWAY_PORT, "playground": PLAYGROUND_PORT}.get(role_name)
        if port:
            objs.append(_service(name, namespace, role_name, port, owner))
        if role.max_replicas >= 2:
            objs.append(_pdb(name, namespace, role_name, owner))
    return objs
