"""The one client the operator and the tests use to talk to the API server.

Every write is a server-side apply under one field manager: applying the same objects
twice, or after a restart mid-reconcile, converges to the same objects (names are fixed
by ``gati.k8s.render``, so there is nothing to duplicate) and never fights a field that
another manager owns. kubernetes_asyncio supplies the configuration, TLS and auth from a
kubeconfig or the pod's service account; the paths are generic so any kind that
``render`` builds needs no per-kind client code.
"""

from __future__ import annotations

import os
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

FIELD_MANAGER = "gati-operator"

# kind -> (plural, namespaced)
_KINDS = {
    "ConfigMap": ("configmaps", True), "Secret": ("secrets", True),
    "Service": ("services", True), "Pod": ("pods", True), "Event": ("events", True),
    "Namespace": ("namespaces", False), "Deployment": ("deployments", True),
    "ReplicaSet": ("replicasets", True), "Job": ("jobs", True),
    "PodDisruptionBudget": ("poddisruptionbudgets", True),
    "CustomResourceDefinition": ("customresourcedefinitions", False),
    "GatiApp": ("gatiapps", True), "ServiceAccount": ("serviceaccounts", True),
    "ClusterRole": ("clusterroles", False), "ClusterRoleBinding": ("clusterrolebindings", False),
}


def path(api_version: str, kind: str, namespace: str | None = None,
         name: str | None = None, sub: str | None = None) -> str:
    plural, namespaced = _KINDS[kind]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespaced and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{plural}"
    if name:
        base += f"/{name}"
    if sub:
        base += f"/{sub}"
    return base


class Kube:
    """A thin async client: apply, get, list, delete, patch status."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api

    @classmethod
    async def connect(cls, kubeconfig: str | None = None) -> Kube:
        """From ``kubeconfig`` or $KUBECONFIG, else the pod's service account."""
        conf = client.Configuration()
        file = kubeconfig or os.environ.get("KUBECONFIG")
        if file or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            await config.load_kube_config(config_file=file, client_configuration=conf)
        else:
            config.load_incluster_config(client_configuration=conf)  # type: ignore[no-untyped-call]
        return cls(client.ApiClient(conf))

    async def close(self) -> None:
        await self.api.close()

    async def _call(self, method: str, url: str, *, body: Any = None,
                    query: list[tuple[str, str]] | None = None,
                    content_type: str = "application/json") -> Any:
        return await self.api.call_api(
            url, method, query_params=query or [], body=body,
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            response_types_map={200: "object", 201: "object", 202: "object"},
            auth_settings=["BearerToken"], _return_http_data_only=True,
        )

    async def apply(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply; ``dry_run`` asks the server to validate and persist nothing."""
        meta = obj["metadata"]
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        url = path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        out: dict[str, Any] = await self._call(
            "PATCH", url, body=obj, query=query, content_type="application/apply-patch+yaml")
        return out

    async def get(self, api_version: str, kind: str, namespace: str | None,
                  name: str) -> dict[str, Any] | None:
        try:
            out: dict[str, Any] = await self._call("GET", path(api_version, kind, namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return out

    async def list(self, api_version: str, kind: str, namespace: str | None,
                   label_selector: str = "") -> list[dict[str, Any]]:
        query = [("labelSelector", label_selector)] if label_selector else []
        out = await self._call("GET", path(api_version, kind, namespace), query=query)
        items: list[dict[str, Any]] = out.get("items") or []
        return items

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str,
                     *, propagation: str = "Background") -> bool:
        try:
            await self._call("DELETE", path(api_version, kind, namespace, name),
                             body={"propagationPolicy": propagation})
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def patch_status(self, api_version: str, kind: str, namespace: str | None,
                           name: str, status: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch the status subresource (the tests' stand-in for a kubelet)."""
        out: dict[str, Any] = await self._call(
            "PATCH", path(api_version, kind, namespace, name, "status"),
            body={"status": status}, content_type="application/merge-patch+json")
        return out


__all__ = ["FIELD_MANAGER", "ApiException", "Kube", "path"]
