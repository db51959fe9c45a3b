"""The operator's own deployment: service account, the least RBAC it needs, one replica.

The rules are exactly what ``gati.operator`` calls (the cluster tests run the operator
under this role's token, so a missing verb fails a test, not a user's cluster).
"""

from __future__ import annotations

from typing import Any

from gati.k8s.crd import PLURAL
from gati.k8s.render import GROUP

_RULES: list[dict[str, Any]] = [
    {"apiGroups": [GROUP], "resources": [PLURAL],
     "verbs": ["get", "list", "watch", "patch", "update"]},
    {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["get", "patch", "update"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["configmaps", "services"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": ["apps"], "resources": ["deployments"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": ["batch"], "resources": ["jobs"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    # kopf itself: it follows namespaces and CRDs to know what it may watch.
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
     "verbs": ["get", "list", "watch"]},
]


def operator_manifests(image: str, namespace: str, *, name: str = "gati-operator",
                       watch: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """ServiceAccount, ClusterRole, ClusterRoleBinding and the operator's Deployment.

    One replica with the Recreate strategy: the operator runs standalone (no peering),
    and two at once would reconcile the same resources side by side.
    """
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "operator"}
    args = ["operator", *[a for ns in watch for a in ("-n", ns)]]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": name, "namespace": namespace, "labels": labels}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": name, "labels": labels}, "rules": _RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": name, "labels": labels},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": namespace, "labels": labels},
         "spec": {
             "replicas": 1, "strategy": {"type": "Recreate"},
             "selector": {"matchLabels": labels},
             "template": {"metadata": {"labels": labels}, "spec": {
                 "serviceAccountName": name,
                 "containers": [{"name": "operator", "image": image,
                                 "command": ["gati"], "args": args}]}},
         }},
    ]
