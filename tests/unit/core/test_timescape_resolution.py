"""Timescape resolution and transformer chains (properties and examples)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.core.context import Services
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Pipeline
from gati.core.ports import SystemClock
from gati.core.timescape import (
    Family,
    MalformedVersion,
    Transformer,
    Version,
    VersionNotFound,
    VersionUnavailable,
    parse_tsv,
)
from gati.errors import AppError

BASE = datetime(2024, 1, 1, tzinfo=UTC)
days = st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=12, unique=True)


def _label(day: int) -> str:
    return (BASE + timedelta(days=day)).date().isoformat()


@settings(max_examples=100, deadline=None)
@given(days, st.randoms(), st.integers(min_value=-10, max_value=3100))
def test_a_timestamp_resolves_to_the_latest_version_at_or_before_it(
    registered: list[int], rnd: Any, asked: int
) -> None:
    family = Family("h", "GET", "/x")
    order = list(registered)
    rnd.shuffle(order)  # any order of registration
    for day in order:
        family.add(Version(_label(day), parse_tsv(_label(day)), (), None))
    candidates = [d for d in registered if d <= asked]
    if asked < 0 or not candidates:
        with pytest.raises(VersionNotFound):
            family.resolve((BASE + timedelta(days=asked)).isoformat())
        return
    chosen = family.resolve((BASE + timedelta(days=asked, hours=12)).isoformat())
    assert chosen.label == _label(max(candidates))


def test_no_preference_is_the_latest_active_and_tags_name_their_version() -> None:
    family = Family("h", "GET", "/x")
    for label, tags in (
        ("2024-01-01", ("v1",)),
        ("2024-06-01", ("v2", "stable")),
        ("2025-01-01", ("v3",)),
    ):
        family.add(Version(label, parse_tsv(label), tags, None))
    assert family.resolve(None).label == "2024-06-01"  # the stable one
    assert family.resolve(None, inactive={"2024-06-01"}).label == "2025-01-01"
    assert family.resolve("stable").label == "2024-06-01"
    assert family.resolve("beta", extra_tags={"2024-01-01": {"beta"}}).label == "2024-01-01"
    with pytest.raises(VersionNotFound, match="v1"):
        family.resolve("v9")
    with pytest.raises(MalformedVersion, match="valid: 2024-01-01"):
        family.resolve("12/31/2024")


def _up(d: dict[str, Any]) -> dict[str, Any]:
    first, _, last = d["name"].partition(" ")
    return {"firstName": first, "lastName": last, **{k: v for k, v in d.items() if k != "name"}}


def _down(d: dict[str, Any]) -> dict[str, Any]:
    name = f"{d['firstName']} {d['lastName']}".strip()
    return {"name": name, **{k: v for k, v in d.items() if k not in ("firstName", "lastName")}}


def _shift_up(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "rev": d.get("rev", 0) + 1}


def _shift_down(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "rev": d["rev"] - 1}


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=7), st.data())
def test_lossless_chains_compose_up_then_down_to_the_original(n: int, data: Any) -> None:
    family = Family("h", "GET", "/x")
    for i in range(n):
        family.add(Version(f"202{i}-01-01", parse_tsv(f"202{i}-01-01"), (), None))
    for i in range(n - 1):
        family.add_transformer(
            Transformer(
                f"202{i}-01-01",
                f"202{i + 1}-01-01",
                request_up=_shift_up,
                response_down=_shift_down,
                lossless=True,
            )
        )
    start = data.draw(st.integers(min_value=0, max_value=n - 2))
    body = data.draw(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers()))
    body = {**body, "rev": 0}
    requested = family.versions[start]
    off = {v.label for v in family.versions[start:-1]}
    plan = family.plan(requested, off)
    assert plan.serving.label == family.latest.label
    up = body
    for step in plan.request_steps:
        up = step.fn(up)
    assert up["rev"] == n - 1 - start
    down = up
    for step in plan.response_steps:
        down = step.fn(down)
    assert down == body


def test_missing_link_is_found_at_validation_not_at_request_time() -> None:
    app = App("ts")

    for version in ("2024-01-01", "2024-06-01", "2025-01-01"):

        @app.get("/u", version=version)
        async def h(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
            res.json({})

    hid = next(iter(app.families))
    app.transformer(hid, "2024-01-01", "2024-06-01", request_up=_up, response_down=_down)
    with pytest.raises(AppError, match="no transformer for 2024-06-01 -> 2025-01-01"):
        app.validate()
    with pytest.raises(AppError, match="adjacent"):
        app.transformer(hid, "2024-01-01", "2025-01-01", request_up=_up)


def test_a_version_nobody_can_reach_is_unavailable() -> None:
    family = Family("h", "GET", "/x")
    family.add(Version("2024-01-01", parse_tsv("2024-01-01"), (), None))
    family.add(Version("2025-01-01", parse_tsv("2025-01-01"), (), None))
    with pytest.raises(VersionUnavailable):
        family.plan(family.versions[0], {"2024-01-01"})


@dataclass
class UserV1:
    name: str


@dataclass
class UserV2:
    firstName: str
    lastName: str


def _versioned_app(with_transformer: bool) -> App:
    app = App("users")

    @app.get("/user", version="2024-01-01", tags=["v1"], response=UserV1)
    async def v1(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json(UserV1(name="Ada Lovelace"))

    @app.get("/user", version="2025-01-01", tags=["v2"], response=UserV2)
    async def v2(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json(UserV2(firstName="Ada", lastName="Lovelace"))

    if with_transformer:
        app.transformer(
            next(iter(app.families)),
            "2024-01-01",
            "2025-01-01",
            request_up=lambda b: b,
            response_down=_down,
        )
    app.validate()
    return app


async def _get(app: App, pref: str | None, inactive: set[str] | None = None) -> Any:
    class State:
        def inactive(self, handler_id: str) -> set[str]:
            return inactive or set()

        def tags(self, handler_id: str) -> dict[str, set[str]]:
            return {}

    now = SystemClock().now_us()
    env = RequestEnvelope(
        request_id="r",
        gateway_id="g",
        reply_topic="t",
        reply_partition=0,
        received_at_us=now,
        deadline_at_us=now + 10_000_000,
        method="GET",
        path="/user",
        query="",
        headers=(),
        body=b"",
        version_pref=pref,
    )
    pipeline = Pipeline(app, Services(modules={}, config={}), clock=SystemClock(), versions=State())
    outcome = await pipeline.process(env)
    return outcome.response.status, json.loads(outcome.response.body), outcome.events


async def test_a_breaking_version_without_transformers_is_opt_in() -> None:
    app = _versioned_app(with_transformer=False)
    fam = next(iter(app.families.values()))
    assert fam.breaking == {"2024-01-01": False, "2025-01-01": True}
    assert (await _get(app, None))[1] == {"name": "Ada Lovelace"}
    assert (await _get(app, "v2"))[1] == {"firstName": "Ada", "lastName": "Lovelace"}
    assert (await _get(app, "2025-03-01"))[1] == {"firstName": "Ada", "lastName": "Lovelace"}


async def test_with_transformers_old_clients_are_served_by_the_new_handler() -> None:
    app = _versioned_app(with_transformer=True)
    assert (await _get(app, None))[1] == {"firstName": "Ada", "lastName": "Lovelace"}
    status, body, events = await _get(app, "v1", inactive={"2024-01-01"})
    assert (status, body) == (200, {"name": "Ada Lovelace"})
    steps = [json.loads(e.detail or "{}") for e in events if e.stage == "transform"]
    assert [(s["direction"], s["from"], s["to"]) for s in steps] == [
        ("request", "2024-01-01", "2025-01-01"),
        ("response", "2025-01-01", "2024-01-01"),
    ]
    routed = next(json.loads(e.detail or "") for e in events if e.stage == "routed")
    assert routed["requested_version"] == "2024-01-01" and routed["version"] == "2025-01-01"


async def test_unknown_and_malformed_versions_are_4xx_listing_the_valid_ones() -> None:
    app = _versioned_app(with_transformer=True)
    status, body, _ = await _get(app, "v7")
    assert status == 404 and body["error"]["code"] == "unknown_version"
    assert "2024-01-01 (v1)" in body["error"]["message"]
    status, body, _ = await _get(app, "yesterday!")
    assert status == 400 and body["error"]["code"] == "malformed_version"


def test_a_stable_tag_is_the_default_for_unpinned_requests() -> None:
    family = Family("h", "GET", "/x")
    family.add(Version("2024-01-01", parse_tsv("2024-01-01"), ("v1", "stable"), None))
    family.add(Version("2025-01-01", parse_tsv("2025-01-01"), ("v2",), None))
    assert family.resolve(None).label == "2024-01-01"
    assert family.resolve(None, extra_tags={"2025-01-01": {"stable"}}).label == "2025-01-01"
    assert family.resolve(None, inactive={"2024-01-01"}).label == "2025-01-01"
