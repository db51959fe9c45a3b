"""The operator's pure decisions: spec checks, lag scaling, cold versions, conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gati.errors import ConfigError
from gati.k8s import conditions, decommission, scaling
from gati.k8s.render import render
from gati.k8s.spec import Decommission, Role, Scaling, parse_spec

BASE = {
    "image": "registry.example.com/shop:1.4.2",
    "app": "shop.app:app",
    "kafka": {"bootstrapSecret": {"name": "k", "key": "bootstrap"}},
    "database": {"urlSecret": {"name": "d", "key": "url"}},
}


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ({"image": "Shop::1"}, "spec.image 'Shop::1' is not an image reference"),
        ({"image": ""}, "spec.image '' is not an image reference"),
        ({"app": "shop"}, "spec.app 'shop' must name the app as module:attribute"),
        ({"roles": {"worker": {"minReplicas": 5, "maxReplicas": 2}}},
         "spec.roles.worker: minReplicas 5 is above maxReplicas 2"),
        ({"roles": {"gateway": {"minReplicas": 1, "maxReplicas": 3}}},
         "only the worker scales"),
        ({"kafka": {}}, "spec.kafka.bootstrapSecret needs a Secret name and key"),
        ({"env": [{"name": "GATI_DATABASE_URL", "value": "x"}]}, "comes from spec.kafka"),
        ({"timescape": {"decommission": {"coldAfter": "a week"}}}, "is not a duration"),
    ],
)
def test_a_bad_spec_is_refused_with_the_field_and_the_fault(patch: dict, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_spec({**BASE, **patch})
    assert words in err.value.message


@pytest.mark.parametrize("image", [
    "shop", "shop:1", "localhost:5000/team/shop:v1.2-rc.1", "ghcr.io/a/b@sha256:" + "a" * 64,
])
def test_image_references_that_registries_accept_pass(image: str) -> None:
    assert parse_spec({**BASE, "image": image}).image == image


WORKER = Role("worker", 1, 5)
POLICY = Scaling(lag_per_worker=10, cooldown_s=60)


def test_lag_scales_up_at_once_within_bounds_and_partitions() -> None:
    state = scaling.decide(scaling.ScaleState(1, 0.0), lag=35, partitions=8, role=WORKER,
                           policy=POLICY, now=1.0)
    assert state.replicas == 4  # ceil(35 / 10)
    assert scaling.decide(state, 10_000, 8, WORKER, POLICY, 2.0).replicas == 5  # max bound
    assert scaling.decide(state, 10_000, 3, WORKER, POLICY, 2.0).replicas == 3  # partitions


def test_scale_down_waits_for_the_cooldown() -> None:
    up = scaling.ScaleState(4, 100.0)
    assert scaling.decide(up, 0, 8, WORKER, POLICY, 130.0) == up  # 30 s < 60 s cooldown
    down = scaling.decide(up, 0, 8, WORKER, POLICY, 161.0)
    assert (down.replicas, down.changed_at) == (1, 161.0)


def test_rendered_workers_stay_within_bounds() -> None:
    spec = parse_spec({**BASE, "roles": {"worker": {"minReplicas": 2, "maxReplicas": 3}}})
    objs = render("shop", "ns", spec, image=spec.image, workers=9)
    worker = next(o for o in objs if o["metadata"]["name"] == "shop-worker")
    assert worker["spec"]["replicas"] == 3
    env = worker["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "GATI_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "d", "key": "url"}}} in env


NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _facts(version: str, days_old: int, seen_days: int | None, tags: tuple[str, ...] = (),
           status: str = "active") -> decommission.VersionFacts:
    seen = NOW - timedelta(days=seen_days) if seen_days is not None else None
    return decommission.VersionFacts("orders", version, NOW - timedelta(days=days_old), tags,
                                     status, seen)


def test_cold_versions_retire_except_protected_and_the_newest() -> None:
    rows = [
        _facts("v1", 40, 20),                    # cold: retire
        _facts("v2", 30, None, ("stable",)),     # cold, protected
        _facts("v3", 20, 1),                     # warm: active
        _facts("v4", 10, None),                  # cold, but the newest active
        _facts("v0", 50, None, status="inactive"),
    ]
    verdicts = {v.version: v for v in decommission.judge(rows, Decommission(True, 7 * 86400), NOW)}
    assert {k: v.state for k, v in verdicts.items()} == {
        "v1": "retire", "v2": "cold", "v3": "active", "v4": "cold", "v0": "deactivated"}
    assert "protected by tag stable" in verdicts["v2"].reason
    assert "newest active version" in verdicts["v4"].reason
    assert verdicts["v1"].reason == "no request for 20d, past the policy's 7d"


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    first = conditions.merge(None, conditions.rollout(migrating="m", failed=None, pending=[]),
                             generation=1, now="T1")
    again = conditions.merge(first, conditions.rollout(migrating="m2", failed=None, pending=[]),
                             generation=2, now="T2")
    ready = conditions.merge(again, conditions.rollout(migrating=None, failed=None, pending=[]),
                             generation=2, now="T3")
    by = {c["type"]: c for c in again}
    assert by["Progressing"]["lastTransitionTime"] == "T1"
    assert by["Progressing"]["observedGeneration"] == 2
    assert {c["type"]: c["lastTransitionTime"] for c in ready}["Ready"] == "T3"
