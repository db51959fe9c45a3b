"""``gati k8s render``'s YAML is what a real API server accepts: server-side dry-run."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gati.operator.kube import ApiException, Kube
from tests.k8s.kube_support import app_resource

pytestmark = pytest.mark.timeout(60)
GATI = str(Path(sys.executable).with_name("gati"))


def render(tmp_path: Path, resource: dict, *args: str) -> subprocess.CompletedProcess[str]:
    src = tmp_path / "app.yaml"
    src.write_text(yaml.safe_dump(resource))
    return subprocess.run([GATI, "k8s", "render", "-f", str(src), *args],
                          capture_output=True, text=True, timeout=30)


async def test_every_rendered_object_passes_server_side_dry_run(
    kube: Kube, namespace: str, tmp_path: Path
) -> None:
    resource = app_resource(namespace, roles={
        "gateway": {"replicas": 3,
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}},
        "worker": {"minReplicas": 2, "maxReplicas": 8}, "recorder": {"replicas": 1},
        "playground": {"replicas": 1}})
    out = render(tmp_path, resource, "--with-crd")
    assert out.returncode == 0, out.stderr
    docs = list(yaml.safe_load_all(out.stdout))
    kinds = [d["kind"] for d in docs]
    # The Job before the processes that need its migration.
    assert kinds[:3] == ["CustomResourceDefinition", "ConfigMap", "Job"]
    assert kinds.count("Deployment") == 4
    pdbs = [d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert pdbs == ["shop-gateway", "shop-worker"]  # the roles that can have 2+ pods
    for doc in docs:
        echoed = await kube.apply(doc, dry_run=True)
        assert echoed["kind"] == doc["kind"]
        assert echoed["metadata"]["name"] == doc["metadata"]["name"]
    # A dry run persists nothing.
    assert await kube.get("apps/v1", "Deployment", namespace, "shop-gateway") is None

    # And the dry run does validate: a wrong field in the same object is refused.
    broken = copy.deepcopy(next(d for d in docs if d["kind"] == "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = 70000
    with pytest.raises(ApiException) as err:
        await kube.apply(broken, dry_run=True)
    assert err.value.status == 422


def test_render_refuses_an_invalid_resource_with_a_message(tmp_path: Path) -> None:
    resource = app_resource("default", roles={"worker": {"minReplicas": 3, "maxReplicas": 1}})
    out = render(tmp_path, resource)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.strip() == (
        "gati k8s render: spec.roles.worker: minReplicas 3 is above maxReplicas 1")
