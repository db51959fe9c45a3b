"""The operator's own manifests: its ClusterRole is enough to run it, and they apply.

The operator runs here under a real token of the rendered ServiceAccount (TokenRequest
API), so a verb missing from the role fails this test before it fails a user's cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gati.k8s.operator_manifests import operator_manifests
from gati.k8s.render import migration_job_name
from gati.operator.kube import Kube
from tests.k8s.kube_support import (
    Operator,
    app_resource,
    condition,
    finish_pod,
    get_app,
    put_secrets,
    wait_until,
)

pytestmark = pytest.mark.timeout(400)


async def sa_token(kube: Kube, ns: str, sa: str) -> str:
    got = await kube.api.call_api(
        f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token", "POST",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"expirationSeconds": 3600}},
        header_params={"Content-Type": "application/json"},
        response_types_map={201: "object", 200: "object"},
        auth_settings=["BearerToken"], _return_http_data_only=True)
    return str(got["status"]["token"])


def sa_kubeconfig(token: str, admin_kubeconfig: str, out: Path) -> Path:
    """The admin kubeconfig with the service account's token in place of the admin's."""
    text = Path(admin_kubeconfig).read_text()
    admin_token = next(line.split("token:")[1].strip() for line in text.splitlines()
                       if "token:" in line)
    out.write_text(text.replace(admin_token, token))
    return out


async def test_the_operator_runs_under_its_rendered_role(
    kube: Kube, kube_cluster: str, namespace: str, tmp_path: Path
) -> None:
    name = f"gati-operator-{namespace}"
    docs = operator_manifests("registry.example.com/gati:1", namespace, name=name,
                              watch=(namespace,))
    assert [d["kind"] for d in docs] == [
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment"]
    try:
        for doc in docs[:3]:
            await kube.apply(doc)
        await kube.apply(docs[3], dry_run=True)  # no kubelet would run it
        token = await sa_token(kube, namespace, name)
        config = sa_kubeconfig(token, kube_cluster, tmp_path / "sa.kubeconfig")
        await put_secrets(kube, namespace)
        op = Operator(str(config), namespace, 1.0, tmp_path / "operator.log").start()
        try:
            await kube.apply(app_resource(namespace))
            await finish_pod(kube, namespace,
                             migration_job_name("shop", "registry.example.com/shop:1.0.0"))

            async def rolled() -> Any:
                app = await get_app(kube, namespace)
                dep = await kube.get("apps/v1", "Deployment", namespace, "shop-worker")
                rolling = condition(app, "Progressing").get("reason") == "RollingOut"
                return dep and rolling and app

            app = await wait_until(rolled, 120, "the operator, on its own token, rolls out")
            assert app["status"]["image"] == "registry.example.com/shop:1.0.0"
        finally:
            op.stop()
        assert "Forbidden" not in (tmp_path / "operator.log").read_text()
    finally:
        for doc in docs[1:3]:
            await kube.delete(doc["apiVersion"], doc["kind"], None, doc["metadata"]["name"])
