"""The worker's faust app: bounded failover settings, static membership, partition hooks.

Built without a broker: the settings are read off the app's configuration and the hooks
are driven through the signals faust sends on each rebalance.
"""

from __future__ import annotations

from typing import Any

import pytest
from faust.types import TP

from gati.config import Settings
from gati.worker.faust_worker import build_faust_app

pytestmark = pytest.mark.timeout(30)


class _Subscribers:
    def topics(self) -> list[str]:
        return []


def _app(settings: Settings, **hooks: Any) -> Any:
    return build_faust_app(settings, object(), _Subscribers(), **hooks)  # type: ignore[arg-type]


def test_a_dead_worker_is_noticed_within_the_session_timeout_not_faust_s_minute() -> None:
    conf = _app(Settings(topic_prefix="t")).conf
    assert conf.broker_session_timeout == 8.0
    assert conf.broker_heartbeat_interval == 1.0
    # The broker waits this long for members to rejoin a rebalance: faust's 60 s default
    # let one worker's restart freeze every partition.
    assert conf.broker_rebalance_timeout == 8.0
    assert conf.broker_request_timeout >= conf.broker_session_timeout


def test_the_session_timeout_and_heartbeat_are_the_settings() -> None:
    s = Settings(topic_prefix="t", worker_session_timeout_s=20.0,
                 worker_heartbeat_interval_s=2.0)
    conf = _app(s).conf
    assert (conf.broker_session_timeout, conf.broker_heartbeat_interval) == (20.0, 2.0)
    assert conf.broker_rebalance_timeout == 20.0


def test_a_worker_with_an_id_is_a_static_member_named_by_it() -> None:
    conf = _app(Settings(topic_prefix="t", worker_id="orders-1")).conf
    assert conf.consumer_group_instance_id == "orders-1"
    assert conf.broker_client_id == "orders-1"


def test_the_pid_based_default_id_never_makes_a_static_member() -> None:
    conf = _app(Settings(topic_prefix="t")).conf
    assert conf.consumer_group_instance_id is None
    assert conf.broker_client_id.startswith("wk-")


def test_static_membership_can_be_named_apart_from_the_id_or_turned_off() -> None:
    named = _app(Settings(topic_prefix="t", worker_id="w", worker_instance_id="slot-3")).conf
    assert named.consumer_group_instance_id == "slot-3"
    off = _app(Settings(topic_prefix="t", worker_id="w", worker_instance_id="none")).conf
    assert off.consumer_group_instance_id is None


async def test_each_assignment_and_revocation_reaches_the_hooks_as_request_partitions(
) -> None:
    seen: list[tuple[str, set[int]]] = []

    async def revoked(partitions: set[int]) -> None:  # an awaitable hook is awaited
        seen.append(("revoked", partitions))

    fapp = _app(Settings(topic_prefix="t"),
                on_assigned=lambda p: seen.append(("assigned", p)), on_revoked=revoked)
    tps = {TP("t.requests", 0), TP("t.requests", 3), TP("t.events.orders", 0)}
    await fapp.on_partitions_assigned.send(tps)
    await fapp.on_partitions_revoked.send(tps)
    await fapp.on_partitions_assigned.send(set())
    assert seen == [("assigned", {0, 3}), ("revoked", {0, 3}), ("assigned", set())]


async def test_without_hooks_a_rebalance_calls_nothing() -> None:
    fapp = _app(Settings(topic_prefix="t"))
    await fapp.on_partitions_assigned.send({TP("t.requests", 0)})
    await fapp.on_partitions_revoked.send({TP("t.requests", 0)})
