"""Which Timescape versions to retire: the policy applied to the registry's rows. Pure.

A version is cold when it has served nothing for ``cold_after`` (or, never used, was
registered longer ago than that). A cold version is deactivated unless it carries a
protected tag or is its handler's newest active version: the newest serves every request
that names no version, so retiring it would retire the handler.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from gati.k8s.spec import Decommission


@dataclass(frozen=True, slots=True)
class VersionFacts:
    handler_id: str
    version: str
    registered: datetime
    tags: tuple[str, ...]
    status: str  # "active" | "inactive"
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class Verdict:
    handler_id: str
    version: str
    state: str  # "active" | "cold" | "deactivated" | "retire"
    reason: str

    def to_status(self) -> dict[str, str]:
        return {"handler": self.handler_id, "version": self.version, "reason": self.reason}


def _newest_active(rows: Iterable[VersionFacts]) -> dict[str, str]:
    newest: dict[str, VersionFacts] = {}
    for r in rows:
        if r.status == "active":
            best = newest.get(r.handler_id)
            if best is None or r.registered > best.registered:
                newest[r.handler_id] = r
    return {h: r.version for h, r in newest.items()}


def judge(rows: list[VersionFacts], policy: Decommission, now: datetime) -> list[Verdict]:
    """One verdict per version; ``retire`` ones are to be deactivated now."""
    cold_after = timedelta(seconds=policy.cold_after_s)
    newest = _newest_active(rows)
    out = []
    for r in rows:
        if r.status != "active":
            out.append(Verdict(r.handler_id, r.version, "deactivated", "inactive in the registry"))
            continue
        seen = r.last_seen or r.registered
        idle = now - seen
        if idle < cold_after:
            out.append(Verdict(r.handler_id, r.version, "active", f"last request {_ago(idle)} ago"))
            continue
        what = "no request" if r.last_seen is None else f"no request for {_ago(idle)}"
        guarded = sorted(set(r.tags) & set(policy.protected_tags))
        if guarded:
            reason = f"cold ({what}) but protected by tag {', '.join(guarded)}"
            out.append(Verdict(r.handler_id, r.version, "cold", reason))
        elif newest.get(r.handler_id) == r.version:
            reason = f"cold ({what}) but the newest active version of its handler"
            out.append(Verdict(r.handler_id, r.version, "cold", reason))
        else:
            reason = f"{what}, past the policy's {_ago(cold_after)}"
            out.append(Verdict(r.handler_id, r.version, "retire", reason))
    return out


def _ago(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def summary(
    verdicts: Iterable[Verdict], retired: Mapping[tuple[str, str], str]
) -> dict[str, object]:
    """The resource's ``status.versions``: active, cold and deactivated, with reasons."""
    out: dict[str, list[dict[str, str]]] = {"active": [], "cold": [], "deactivated": []}
    for v in verdicts:
        key = (v.handler_id, v.version)
        if key in retired:
            out["deactivated"].append({**v.to_status(), "reason": retired[key]})
        elif v.state == "retire":  # the registry refused; it stays cold, with why
            out["cold"].append(v.to_status())
        else:
            out[v.state].append(v.to_status())
    return dict(out)
