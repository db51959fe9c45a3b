"""The Temporal workflow and activity of peer 6b, in a module of their own: Temporal's
sandbox re-imports a workflow's module, so it must import nothing but the SDK."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from bench.peers.handler import work

QUEUE = "gati-bench"


@activity.defn
async def price_activity(order: dict[str, Any]) -> dict[str, Any]:
    return work(order)


@workflow.defn
class PriceWorkflow:
    @workflow.run
    async def run(self, order: dict[str, Any]) -> dict[str, Any]:
        return await workflow.execute_activity(
            price_activity, order, start_to_close_timeout=timedelta(seconds=30)
        )
