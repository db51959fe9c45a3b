"""Is a new version breaking? Contract compatibility against its predecessor.

Requests and responses are judged separately, in the direction that matters to old
clients: the new handler must read requests old clients send (backward), and old
clients must read responses the new handler sends (forward). A version whose types are
not declared cannot be judged and counts as not breaking; ``gati timescape list``
shows it as "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass

from gati.core.timescape import Family
from gati.types import CompatibilityReport, compare, namespace_for


@dataclass(frozen=True, slots=True)
class Assessment:
    version: str
    predecessor: str | None
    breaking: bool
    judged: bool
    request_report: str | None = None
    response_report: str | None = None

    def render(self) -> str:
        if self.predecessor is None:
            return f"{self.version}: first version"
        if not self.judged:
            return f"{self.version}: unknown (no request/response types declared)"
        head = f"{self.version} vs {self.predecessor}: " + (
            "BREAKING" if self.breaking else "compatible"
        )
        parts = [head]
        for label, report in (("request", self.request_report), ("response", self.response_report)):
            if report:
                parts.append(
                    f"  {label}:\n" + "\n".join("    " + line for line in report.splitlines())
                )
        return "\n".join(parts)


def assess(app_name: str, family: Family) -> list[Assessment]:
    """One assessment per version, oldest first."""
    out: list[Assessment] = []
    previous = None
    for version in family.versions:
        if previous is None:
            out.append(Assessment(version.label, None, False, True))
            previous = version
            continue
        old, new = previous.target, version.target
        ns = namespace_for(app_name, family.handler_id.rsplit(".", 1)[-1])
        reports: dict[str, str] = {}
        breaking = False
        judged = False
        for side, mode in (("request", "backward"), ("response", "forward")):
            a = getattr(old, f"{side}_contract")
            b = getattr(new, f"{side}_contract")
            if a is None or b is None:
                continue
            judged = True
            report = compare(a.gtype, b.gtype, namespace=ns, mode=mode)  # type: ignore[arg-type]
            reports[side] = report.render()
            breaking = breaking or _breaks(report)
        out.append(
            Assessment(
                version.label,
                previous.label,
                breaking,
                judged,
                reports.get("request"),
                reports.get("response"),
            )
        )
        previous = version
    return out


def _breaks(report: CompatibilityReport) -> bool:
    """Incompatible for a JSON client: record names never reach one, so a renamed
    dataclass alone does not break it."""
    return any(not v.compatible and any(k != "name_mismatch" for k in v.kinds)
               for v in report.verdicts)
