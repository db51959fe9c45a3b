"""Status conditions (Ready, Progressing, Degraded) in the Kubernetes convention. Pure.

``lastTransitionTime`` moves only when a condition's status changes, so a reconcile that
finds nothing new rewrites the same conditions and the resource does not churn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


def merge(previous: list[dict[str, Any]] | None, new: list[Condition], *,
          generation: int, now: str) -> list[dict[str, Any]]:
    old = {c.get("type"): c for c in previous or []}
    out = []
    for c in new:
        status = "True" if c.status else "False"
        was = old.get(c.type) or {}
        since = was.get("lastTransitionTime") if was.get("status") == status else None
        out.append({
            "type": c.type, "status": status, "reason": c.reason, "message": c.message,
            "observedGeneration": generation, "lastTransitionTime": since or now,
        })
    return out


def invalid(reason: str, message: str) -> list[Condition]:
    """A resource the operator will not act on: says why, and nothing else changes."""
    return [
        Condition("Ready", False, reason, message),
        Condition("Progressing", False, reason, "nothing was changed"),
        Condition("Degraded", True, reason, message),
    ]


def rollout(*, migrating: str | None, failed: str | None, pending: list[str]) -> list[Condition]:
    """Conditions of a valid resource from its migration and its Deployments' progress."""
    if failed:
        return [Condition("Ready", not pending, "MigrationFailed", failed),
                Condition("Progressing", False, "MigrationFailed", failed),
                Condition("Degraded", True, "MigrationFailed", failed)]
    if migrating:
        return [Condition("Ready", False, "Migrating", migrating),
                Condition("Progressing", True, "Migrating", migrating),
                Condition("Degraded", False, "AsExpected", "no problem found")]
    if pending:
        msg = "waiting for " + "; ".join(pending)
        return [Condition("Ready", False, "RollingOut", msg),
                Condition("Progressing", True, "RollingOut", msg),
                Condition("Degraded", False, "AsExpected", "no problem found")]
    return [Condition("Ready", True, "AllReplicasAvailable", "every role serves at its replicas"),
            Condition("Progressing", False, "RolloutComplete", "every Deployment is up to date"),
            Condition("Degraded", False, "AsExpected", "no problem found")]
