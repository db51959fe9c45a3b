"""Workers follow the requests topic's consumer lag, read from the real Kafka broker.

A unique topic prefix per run (``t<hex>``, which the suite's topic clean-up knows) keeps
this test off every other test's topics on the shared broker.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from gati.k8s.render import migration_job_name
from gati.operator.kube import Kube
from tests.k8s.kube_support import app_resource, finish_pod, get_app, put_secrets, wait_until

pytestmark = pytest.mark.timeout(400)
PARTITIONS = 3
MESSAGES = 40


async def backlog(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(MESSAGES):
            await producer.send_and_wait(topic, b"req", partition=i % PARTITIONS)
    finally:
        await producer.stop()


async def commit(bootstrap: str, group: str, topic: str, *, at_end: bool) -> None:
    """The worker group's committed offsets: at the start (all lag) or the end (none)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.commit({tp: (ends[tp] if at_end else 0) for tp in tps})
    finally:
        await consumer.stop()


async def workers(kube: Kube, ns: str) -> int | None:
    dep = await kube.get("apps/v1", "Deployment", ns, "shop-worker")
    return dep["spec"]["replicas"] if dep else None


async def test_workers_rise_with_lag_within_bounds_and_fall_after_cooldown(
    kube: Kube, namespace: str, operator, kafka_bootstrap: str
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    topic, group = f"{prefix}.requests", f"{prefix}-worker"
    await backlog(kafka_bootstrap, topic)
    await commit(kafka_bootstrap, group, topic, at_end=False)
    await put_secrets(kube, namespace, bootstrap=kafka_bootstrap)
    operator(interval_s=1.0)
    image = "registry.example.com/shop:1.0.0"
    await kube.apply(app_resource(
        namespace, topicPrefix=prefix, scaling={"lagPerWorker": 5, "cooldown": "3s"},
        roles={"gateway": {"replicas": 1}, "worker": {"minReplicas": 1, "maxReplicas": 5}}))
    await finish_pod(kube, namespace, migration_job_name("shop", image))

    # 40 waiting / 5 per worker asks for 8; the bound is 5 and the topic has 3 partitions.
    async def risen() -> Any:
        st = ((await get_app(kube, namespace)).get("status") or {}).get("workers") or {}
        return await workers(kube, namespace) == PARTITIONS == st.get("replicas") and st

    status = await wait_until(risen, 120, f"the worker Deployment has {PARTITIONS} replicas")
    assert (status["replicas"], status["lag"], status["partitions"]) == (
        PARTITIONS, MESSAGES, PARTITIONS)
    risen_at = status["lastScaleTime"]

    await commit(kafka_bootstrap, group, topic, at_end=True)  # the backlog is consumed

    async def fallen() -> Any:
        st = (await get_app(kube, namespace))["status"]["workers"]
        return await workers(kube, namespace) == 1 == st["replicas"] and st

    status = await wait_until(fallen, 120, "the worker Deployment is back at its minimum")
    assert status["lag"] == 0
    # The operator's own clock: the scale-down waited out the 3 s cooldown.
    assert status["lastScaleTime"] - risen_at >= 3
