"""A GatiApp's life on a real API server: create, migrate, roll, break, restart, delete.

The operator runs as ``gati operator`` in its own process. No kubelet runs: the tests
finish the migration Job's pod and mark Deployment pods ready by patching pod status.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from gati.k8s.render import API_VERSION, migration_job_name
from gati.operator.kube import Kube
from tests.k8s.kube_support import (
    app_resource,
    condition,
    finish_pod,
    get_app,
    put_secrets,
    ready_pods,
    wait_until,
)

pytestmark = pytest.mark.timeout(400)
SEL = "app.kubernetes.io/instance=shop"
KINDS = (("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "Deployment"),
         ("policy/v1", "PodDisruptionBudget"), ("batch/v1", "Job"))


async def objects(kube: Kube, ns: str) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for api_version, kind in KINDS:
        for o in await kube.list(api_version, kind, ns, SEL):
            out[(kind, o["metadata"]["name"])] = o
    return out


def desired(found: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """What the operator writes (spec, data, labels), not what controllers report."""
    return {k: (o.get("spec"), o.get("data"), o["metadata"].get("labels"),
                o["metadata"].get("generation")) for k, o in found.items()}


async def printed_row(kube: Kube, ns: str) -> dict[str, Any]:
    """The row ``kubectl get gatiapps -o wide`` shows (the server's Table rendering)."""
    table = await kube.api.call_api(
        f"/apis/{API_VERSION}/namespaces/{ns}/gatiapps", "GET",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        response_types_map={200: "object"}, auth_settings=["BearerToken"],
        _return_http_data_only=True)
    names = [c["name"] for c in table["columnDefinitions"]]
    (row,) = table["rows"]
    return {n: v for n, v in zip(names, row["cells"], strict=True) if n != "Age"}


async def deployment_image(kube: Kube, ns: str, role: str) -> str | None:
    dep = await kube.get("apps/v1", "Deployment", ns, f"shop-{role}")
    return dep["spec"]["template"]["spec"]["containers"][0]["image"] if dep else None


async def migrated(kube: Kube, ns: str, image: str) -> None:
    """Finish the migration Job for ``image`` and wait until the workers run it."""
    await finish_pod(kube, ns, migration_job_name("shop", image))

    async def rolled() -> bool:
        # The status is written after every object is applied: all of them are there.
        status = (await get_app(kube, ns)).get("status") or {}
        return status.get("image") == image and await deployment_image(kube, ns, "worker") == image

    await wait_until(rolled, 120, f"the app's Deployments run {image}")


async def test_create_migrate_roll_out_and_delete(kube: Kube, namespace: str, operator) -> None:
    ns = namespace
    await put_secrets(kube, ns)
    operator()
    created = await kube.apply(app_resource(ns))
    uid = created["metadata"]["uid"]

    # Before the first migration completes: config, services, budgets and the Job; no process.
    job = migration_job_name("shop", "registry.example.com/shop:1.0.0")

    async def migrating() -> Any:
        app = await get_app(kube, ns)
        return condition(app, "Progressing").get("reason") == "Migrating" and app

    app = await wait_until(migrating, 90, "the GatiApp says it is migrating")
    assert condition(app, "Ready")["status"] == "False"
    assert condition(app, "Ready")["observedGeneration"] == app["metadata"]["generation"]
    found = await objects(kube, ns)
    assert ("Job", job) in found
    assert not [k for k in found if k[0] == "Deployment"]

    await migrated(kube, ns, "registry.example.com/shop:1.0.0")
    found = await objects(kube, ns)
    assert set(found) >= {("ConfigMap", "shop-config"), ("Service", "shop-gateway"),
                          ("Deployment", "shop-gateway"), ("Deployment", "shop-worker"),
                          ("Deployment", "shop-recorder"), ("PodDisruptionBudget", "shop-gateway")}
    for key, obj in found.items():
        refs = obj["metadata"].get("ownerReferences") or []
        assert [(r["kind"], r["uid"], r.get("controller")) for r in refs] == [
            ("GatiApp", uid, True)], key
    gw = found[("Deployment", "shop-gateway")]["spec"]
    assert gw["replicas"] == 2
    assert gw["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    container = gw["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["gateway", "shop.app:app"]
    env = {e["name"]: e for e in container["env"]}
    assert env["GATI_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "app-db", "key": "url"}

    # Pods ready (patched, no kubelet): the app says Ready.
    async def all_ready() -> Any:
        await ready_pods(kube, ns, SEL)
        app = await get_app(kube, ns)
        return condition(app, "Ready").get("status") == "True" and app

    app = await wait_until(all_ready, 120, "the GatiApp is Ready")
    assert condition(app, "Degraded")["status"] == "False"
    assert await printed_row(kube, ns) == {
        "Name": "shop", "Image": "registry.example.com/shop:1.0.0",
        "Running": "registry.example.com/shop:1.0.0", "Workers": 1, "Lag": None,
        "Ready": "True", "Reason": "AllReplicasAvailable"}

    # A new image: its migration Job first, the running image untouched until it completes.
    await kube.apply(app_resource(ns, image="registry.example.com/shop:1.1.0"))
    new_job = migration_job_name("shop", "registry.example.com/shop:1.1.0")

    async def migrating_again() -> Any:
        c = condition(await get_app(kube, ns), "Progressing")
        return c.get("reason") == "Migrating" and c["observedGeneration"] == 2

    await wait_until(migrating_again, 90, "the GatiApp says it migrates the new image")
    assert await kube.get("batch/v1", "Job", ns, new_job) is not None
    assert await deployment_image(kube, ns, "worker") == "registry.example.com/shop:1.0.0"
    await migrated(kube, ns, "registry.example.com/shop:1.1.0")

    # The rolling update keeps the old pods serving while the new ones are not ready.
    async def surged() -> Any:
        gateway = f"{SEL},app.kubernetes.io/component=gateway"
        rs = await kube.list("apps/v1", "ReplicaSet", ns, gateway)
        images = {r["spec"]["template"]["spec"]["containers"][0]["image"]: r for r in rs}
        surge = images.get("registry.example.com/shop:1.1.0")
        return len(images) == 2 and surge and surge["spec"]["replicas"] == 1 and images

    sets = await wait_until(surged, 90, "a second gateway ReplicaSet exists")
    assert sets["registry.example.com/shop:1.0.0"]["spec"]["replicas"] == 2
    assert sets["registry.example.com/shop:1.1.0"]["spec"]["replicas"] == 1  # maxSurge 1

    # Deleted: the garbage collector takes every owned object with it.
    await kube.delete(API_VERSION, "GatiApp", ns, "shop", propagation="Foreground")

    async def collected() -> bool:
        return not await objects(kube, ns)

    await wait_until(collected, 120, "every owned object is collected")


@pytest.mark.parametrize(
    ("spec", "reason", "words"),
    [
        ({"image": "registry.example.com/Shop::1"}, "InvalidSpec", "is not an image reference"),
        ({"database": {"urlSecret": {"name": "nowhere", "key": "url"}}}, "SecretMissing",
         "Secret {ns}/nowhere does not exist"),
        ({"roles": {"worker": {"minReplicas": 4, "maxReplicas": 2}}}, "InvalidSpec",
         "minReplicas 4 is above maxReplicas 2"),
    ],
    ids=["bad-image", "missing-secret", "min-above-max"],
)
async def test_an_invalid_resource_gets_a_condition_and_changes_nothing(
    kube: Kube, namespace: str, operator, spec: dict[str, Any], reason: str, words: str
) -> None:
    await put_secrets(kube, namespace)
    operator()
    await kube.apply(app_resource(namespace, **spec))

    async def degraded() -> Any:
        app = await get_app(kube, namespace)
        return condition(app, "Degraded").get("status") == "True" and app

    app = await wait_until(degraded, 90, "the GatiApp is Degraded")
    c = condition(app, "Degraded")
    assert c["reason"] == reason
    assert words.format(ns=namespace) in c["message"]
    assert condition(app, "Ready")["status"] == "False"
    assert await objects(kube, namespace) == {}


async def test_a_valid_app_made_invalid_keeps_its_objects(kube: Kube, namespace: str,
                                                          operator) -> None:
    await put_secrets(kube, namespace)
    operator()
    await kube.apply(app_resource(namespace))
    await migrated(kube, namespace, "registry.example.com/shop:1.0.0")
    before = desired(await objects(kube, namespace))

    await kube.apply(app_resource(namespace, image="not a reference"))

    async def degraded() -> Any:
        app = await get_app(kube, namespace)
        c = condition(app, "Degraded")
        return c.get("status") == "True" and c["observedGeneration"] == 2 and c

    c = await wait_until(degraded, 90, "the broken update is reported")
    assert "'not a reference' is not an image reference" in c["message"]
    after = desired(await objects(kube, namespace))
    assert after == before


async def test_operator_killed_mid_reconcile_converges_without_duplicates(
    kube: Kube, namespace: str, operator
) -> None:
    await put_secrets(kube, namespace)
    first = operator()
    await kube.apply(app_resource(namespace))

    async def some_objects() -> Any:
        return await objects(kube, namespace)

    await wait_until(some_objects, 90, "the operator has written its first objects")
    first.kill()  # somewhere inside the first reconcile or just after it
    await finish_pod(kube, namespace, migration_job_name("shop", "registry.example.com/shop:1.0.0"))
    operator()

    async def converged() -> Any:
        found = await objects(kube, namespace)
        return ("Deployment", "shop-recorder") in found and found

    found = await wait_until(converged, 120, "the restarted operator converges")
    names = Counter((k[0], k[1]) for k in found)
    assert max(names.values()) == 1
    assert sorted(k for k in found if k[0] != "Job") == [
        ("ConfigMap", "shop-config"), ("Deployment", "shop-gateway"),
        ("Deployment", "shop-recorder"), ("Deployment", "shop-worker"),
        ("PodDisruptionBudget", "shop-gateway"), ("Service", "shop-gateway")]
    assert [k for k in found if k[0] == "Job"] == [
        ("Job", migration_job_name("shop", "registry.example.com/shop:1.0.0"))]

    async def replica_sets() -> Any:
        rs = await kube.list("apps/v1", "ReplicaSet", namespace, SEL)
        return len(rs) >= 3 and rs

    rs = await wait_until(replica_sets, 90, "the Deployments have their ReplicaSets")
    assert Counter(r["metadata"]["labels"]["app.kubernetes.io/component"] for r in rs) == {
        "gateway": 1, "worker": 1, "recorder": 1}


async def test_a_failed_migration_keeps_the_old_image_serving(kube: Kube, namespace: str,
                                                              operator) -> None:
    await put_secrets(kube, namespace)
    operator()
    await kube.apply(app_resource(namespace))
    await migrated(kube, namespace, "registry.example.com/shop:1.0.0")

    new = "registry.example.com/shop:2.0.0"
    await kube.apply(app_resource(namespace, image=new, migration={"backoffLimit": 0}))
    await finish_pod(kube, namespace, migration_job_name("shop", new), exit_code=1)

    async def failed() -> Any:
        app = await get_app(kube, namespace)
        return condition(app, "Degraded").get("reason") == "MigrationFailed" and app

    app = await wait_until(failed, 90, "the GatiApp reports the failed migration")
    assert condition(app, "Degraded")["message"] == (
        f"Job {migration_job_name('shop', new)} (gati migrate for {new}) failed; "
        "registry.example.com/shop:1.0.0 keeps running")
    assert app["status"]["image"] == "registry.example.com/shop:1.0.0"
    for role in ("gateway", "worker", "recorder"):
        assert await deployment_image(kube, namespace, role) == "registry.example.com/shop:1.0.0"
