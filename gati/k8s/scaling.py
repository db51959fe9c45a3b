"""How many workers the requests topic's consumer lag asks for. Pure: lag in, count out.

Up at once (lag is requests waiting), down only after the cooldown has passed since the
last change (a burst that drains must not make the Deployment flap), never outside the
worker's bounds, and never above the partition count: a worker beyond it would own no
partition and only idle in the consumer group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gati.k8s.spec import Role, Scaling


@dataclass(frozen=True, slots=True)
class ScaleState:
    replicas: int
    changed_at: float  # epoch seconds of the last change

    def to_status(self, lag: int | None, partitions: int | None) -> dict[str, object]:
        return {"replicas": self.replicas, "lastScaleTime": self.changed_at,
                "lag": lag, "partitions": partitions}


def _ceiling(partitions: int, role: Role) -> int:
    return max(role.min_replicas, min(role.max_replicas, partitions))


def wanted(lag: int, partitions: int, role: Role, policy: Scaling) -> int:
    """The count the lag alone asks for, within bounds and the partition count."""
    need = math.ceil(lag / policy.lag_per_worker) if lag > 0 else 0
    return max(role.min_replicas, min(_ceiling(partitions, role), need))


def decide(current: ScaleState | None, lag: int, partitions: int, role: Role,
           policy: Scaling, now: float) -> ScaleState:
    """The next worker count; unchanged while a scale-down waits out its cooldown."""
    target = wanted(lag, partitions, role, policy)
    if current is None:
        return ScaleState(target, now)
    # Outside the bounds or above the partitions (which can shrink on a recreated topic),
    # the count moves at once: workers past the partition count would only idle.
    clamped = max(role.min_replicas, min(_ceiling(partitions, role), current.replicas))
    if target > clamped:
        return ScaleState(target, now)
    if target < clamped and now - current.changed_at >= policy.cooldown_s:
        return ScaleState(target, now)
    if clamped != current.replicas:
        return ScaleState(clamped, now)
    return current
