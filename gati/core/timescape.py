"""Timescape: many live versions of one handler, and how a request finds its version.

A handler id is a *family* of versions on one method and path. Each version is a
timestamp (TSV) with optional tags. A request names a version by timestamp (the latest
at or before it), by tag, or not at all (the latest active). If the version it names
cannot serve (deactivated, or unhealthy), the request is carried to the nearest later
version that can, through the chain of transformers between adjacent versions: request
bodies up, response bodies back down. All of this is pure; which versions are inactive
or unhealthy is given by the caller.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gati.errors import AppError, GatiError

Transform = Callable[[Any], Any]

STABLE = "stable"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")


class VersionNotFound(GatiError):
    code = "unknown_version"
    status = 404


class MalformedVersion(GatiError):
    code = "malformed_version"
    status = 400


class VersionUnavailable(GatiError):
    code = "version_unavailable"
    status = 503


def parse_tsv(text: str) -> int:
    """A version timestamp: ``YYYY-MM-DD`` or ISO 8601 date-time (UTC if no zone).

    Raises:
        ValueError: anything else.
    """
    value = text.strip()
    if _DATE.match(value):
        value += "T00:00:00+00:00"
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if "T" not in value:
        raise ValueError(f"{text!r} is not a date or date-time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def is_tag(text: str) -> bool:
    return bool(_TAG.match(text)) and not text[0].isdigit()


@dataclass(frozen=True, slots=True)
class Version:
    label: str
    tsv_us: int
    tags: tuple[str, ...]
    target: Any  # the HandlerSpec; opaque here


@dataclass(frozen=True, slots=True)
class Transformer:
    """Between two adjacent versions ``older`` -> ``newer``; each direction optional."""

    older: str
    newer: str
    request_up: Transform | None = None
    response_down: Transform | None = None
    request_down: Transform | None = None
    response_up: Transform | None = None
    lossless: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    frm: str
    to: str
    fn: Transform


@dataclass(frozen=True, slots=True)
class Plan:
    """Serve ``requested`` with ``serving``: transform the request up, the response down."""

    requested: Version
    serving: Version
    request_steps: tuple[Step, ...] = ()
    response_steps: tuple[Step, ...] = ()
    reason: str = "direct"


@dataclass(slots=True)
class Family:
    handler_id: str
    method: str
    path: str
    versions: list[Version] = field(default_factory=list)
    transformers: dict[tuple[str, str], Transformer] = field(default_factory=dict)
    # Set by App.validate(): versions whose contract breaks old clients.
    breaking: dict[str, bool] = field(default_factory=dict)

    def add(self, version: Version) -> None:
        for v in self.versions:
            if v.label == version.label or v.tsv_us == version.tsv_us:
                raise AppError(f"{self.handler_id}: version {version.label} is declared twice")
            clash = set(v.tags) & set(version.tags)
            if clash:
                raise AppError(f"{self.handler_id}: tag {sorted(clash)[0]!r} is on two versions")
        self.versions.append(version)
        self.versions.sort(key=lambda v: v.tsv_us)

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    def label_of(self, version: str) -> Version:
        for v in self.versions:
            if v.label == version or version in v.tags:
                return v
        raise VersionNotFound(f"{self.handler_id} has no version {version!r}; valid: "
                              f"{', '.join(self.describe())}")

    def describe(self) -> list[str]:
        return [v.label + (f" ({', '.join(v.tags)})" if v.tags else "") for v in self.versions]

    def add_transformer(self, t: Transformer) -> None:
        labels = [v.label for v in self.versions]
        for name in (t.older, t.newer):
            if name not in labels:
                raise AppError(f"transformer {t.older} -> {t.newer}: {self.handler_id} has no "
                               f"version {name} (versions: {', '.join(labels)})")
        if labels.index(t.newer) != labels.index(t.older) + 1:
            raise AppError(f"transformer {t.older} -> {t.newer} of {self.handler_id} must join "
                           "adjacent versions; chain longer spans through the ones between")
        if (t.older, t.newer) in self.transformers:
            raise AppError(f"transformer {t.older} -> {t.newer} is declared twice")
        self.transformers[(t.older, t.newer)] = t

    def missing_links(self) -> list[str]:
        """Adjacent pairs without request-up and response-down, once any transformer exists."""
        if not self.transformers:
            return []
        missing = []
        for older, newer in zip(self.versions, self.versions[1:], strict=False):
            t = self.transformers.get((older.label, newer.label))
            if t is None or t.request_up is None or t.response_down is None:
                missing.append(f"{older.label} -> {newer.label}")
        return missing

    def resolve(
        self, preference: str | None, inactive: Iterable[str] = (),
        extra_tags: dict[str, set[str]] | None = None,
    ) -> Version:
        """The version a request asks for.

        Nothing: the active version tagged ``stable`` if there is one, else the latest
        active version, except that a breaking version with no
        transformer from its predecessor is opt-in (served only to clients that name it
        or a later time). A tag (declared in code or added by an operator): its version.
        A timestamp: the latest version at or before it.

        Raises:
            MalformedVersion: neither a known tag nor a timestamp.
            VersionNotFound: an unknown tag, or a time before the first version.
        """
        off = set(inactive)
        extra = extra_tags or {}
        if preference is None or not preference.strip():
            # A version tagged "stable" (in code or by an operator) is the default.
            for v in reversed(self.versions):
                if v.label not in off and STABLE in (*v.tags, *extra.get(v.label, ())):
                    return v
            for i in range(len(self.versions) - 1, -1, -1):
                v = self.versions[i]
                if v.label in off or self._opt_in(i):
                    continue
                return v
            return self.latest
        pref = preference.strip()
        for v in self.versions:
            if pref in v.tags or pref == v.label or pref in extra.get(v.label, ()):
                return v
        try:
            at = parse_tsv(pref)
        except ValueError:
            if is_tag(pref):
                raise VersionNotFound(
                    f"{self.handler_id} has no version tagged {pref!r}; valid: "
                    f"{', '.join(self.describe())}") from None
            raise MalformedVersion(
                f"{pref!r} is neither a version tag nor a date (YYYY-MM-DD or ISO 8601); "
                f"valid: {', '.join(self.describe())}") from None
        chosen = None
        for v in self.versions:
            if v.tsv_us <= at:
                chosen = v
        if chosen is None:
            raise VersionNotFound(f"{self.handler_id} has no version at or before {pref}; "
                                  f"the first is {self.versions[0].label}")
        return chosen

    def _opt_in(self, index: int) -> bool:
        v = self.versions[index]
        if index == 0 or not self.breaking.get(v.label):
            return False
        link = self.transformers.get((self.versions[index - 1].label, v.label))
        return link is None or link.request_up is None or link.response_down is None

    def plan(self, requested: Version, unavailable: Iterable[str] = ()) -> Plan:
        """How to serve ``requested`` when some versions cannot serve.

        Raises:
            VersionUnavailable: no version that can serve is reachable by transformers.
        """
        off = set(unavailable)
        if requested.label not in off:
            return Plan(requested, requested)
        labels = [v.label for v in self.versions]
        start = labels.index(requested.label)
        up: list[Step] = []
        down: list[Step] = []
        for i in range(start, len(self.versions) - 1):
            older, newer = self.versions[i], self.versions[i + 1]
            t = self.transformers.get((older.label, newer.label))
            if t is None or t.request_up is None or t.response_down is None:
                break
            up.append(Step(older.label, newer.label, t.request_up))
            down.insert(0, Step(newer.label, older.label, t.response_down))
            if newer.label not in off:
                return Plan(requested, newer, tuple(up), tuple(down), reason="transformed")
        raise VersionUnavailable(
            f"version {requested.label} of {self.handler_id} cannot serve now and no later "
            "version is reachable through transformers")


class HealthTracker:
    """Error rate per (handler, version) over a sliding window of recent outcomes.

    A version whose 5xx share crosses ``threshold`` (with at least ``min_requests``
    outcomes in the window) is unhealthy until ``cooldown_us`` passes; traffic that can
    be transformed to a healthy version goes there meanwhile.
    """

    def __init__(self, *, window: int = 50, min_requests: int = 10, threshold: float = 0.5,
                 cooldown_us: int = 30_000_000) -> None:
        self.window = window
        self.min_requests = min_requests
        self.threshold = threshold
        self.cooldown_us = cooldown_us
        self._outcomes: dict[tuple[str, str], deque[bool]] = {}
        self._until: dict[tuple[str, str], int] = {}

    def observe(self, handler_id: str, version: str, status: int, now_us: int) -> bool:
        """Record an outcome; True if this one made the version unhealthy."""
        key = (handler_id, version)
        outcomes = self._outcomes.setdefault(key, deque(maxlen=self.window))
        outcomes.append(status >= 500)
        if len(outcomes) < self.min_requests:
            return False
        rate = sum(outcomes) / len(outcomes)
        if rate > self.threshold and self._until.get(key, 0) <= now_us:
            self._until[key] = now_us + self.cooldown_us
            outcomes.clear()
            return True
        return False

    def unhealthy(self, handler_id: str, now_us: int) -> set[str]:
        return {v for (h, v), until in self._until.items() if h == handler_id and until > now_us}
