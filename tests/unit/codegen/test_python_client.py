"""The generated Python client: mypy --strict clean, and it speaks Gati's HTTP."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from codegen_apps import app as kinds_app
from codegen_apps import versions_app
from codegen_tools import mypy_strict, write

from gati.codegen import python_client
from gati.manifest import build_manifest

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from examples.typed_users.app import app as typed

    root = tmp_path_factory.mktemp("pyclients")
    write(python_client(build_manifest(kinds_app)), root / "kinds_client")
    write(python_client(build_manifest(typed)), root / "typed_client")
    write(python_client(build_manifest(versions_app()), version="v1"), root / "pinned_client")
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    for name in list(sys.modules):
        if name.split(".")[0] in ("kinds_client", "typed_client", "pinned_client"):
            del sys.modules[name]


def test_generated_clients_pass_mypy_strict(generated: Path) -> None:
    for package in ("kinds_client", "typed_client", "pinned_client"):
        result = mypy_strict(generated / package)
        assert result.returncode == 0, f"{package}:\n{result.stdout}{result.stderr}"


def _load(name: str) -> ModuleType:
    return importlib.import_module(name)


EVERYTHING: dict[str, Any] = {
    "name": "abc", "count": 3, "ratio": 0.5, "flag": True, "color": "red", "level": 2,
    "mode": 3, "shape": {"corner": {"x": 0, "y": 1.5}, "side": 2.0}, "scalar": "s",
    "when": "2025-01-02T03:04:05+00:00", "day": "2025-01-02", "blob": "aGVsbG8=",
    "email": "a@b.co", "tags": ["x"], "scores": {"a": 1.0},
    "nested": [{"k": [{"x": 1.0, "y": 2.0}]}],
    "tree": {"label": "root", "children": [{"label": "leaf", "children": []}]},
    "words": {"from": "f", "class": 1, "async": False}, "anything": {"any": [1, None]},
    "maybe": None, "optional_count": 4,
}


def _transport(seen: list[httpx.Request], answer: Any) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)  # type: ignore[no-any-return]

    return httpx.MockTransport(handle)


async def test_models_round_trip_every_kind(generated: Path) -> None:
    models = _load("kinds_client.models")
    value = models.Everything.from_json(EVERYTHING)
    assert isinstance(value.shape, models.Square)  # the union picked the right variant
    assert value.when == dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert value.day == dt.date(2025, 1, 2)
    # TypedDicts are dataclasses too; keywords get a trailing underscore.
    assert value.words == models.Keywords(from_="f", class_=1, async_=False)
    assert isinstance(value.tree.children[0], models.Tree)
    assert value.optional_note is None and value.optional_count == 4
    assert value.to_json() == EVERYTHING
    with pytest.raises((TypeError, KeyError)):
        models.Everything.from_json({**EVERYTHING, "count": "three"})
    with pytest.raises(TypeError):
        models.Everything.from_json({**EVERYTHING, "color": "blue"})


async def test_calls_send_paths_bodies_queries_and_decode(generated: Path) -> None:
    client_mod = _load("kinds_client.client")
    models = _load("kinds_client.models")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" or request.url.params.get("none"):
            return httpx.Response(204)
        if request.url.path == "/raw":
            return httpx.Response(200, text="hello")
        if request.url.path == "/maybe":
            return httpx.Response(200, json={"x": 1, "y": 2})
        if request.url.path == "/things":
            return httpx.Response(200, json=[{"label": "t", "children": []}])
        return httpx.Response(201, json=json.loads(request.content))

    http = httpx.AsyncClient(transport=_transport(seen, answer))
    async with client_mod.Client("http://api.test/", http=http, headers={"x-a": "1"}) as api:
        value = models.Everything.from_json(EVERYTHING)
        back = await api.put_thing("a b/c", 7, value, fail="0")
        assert back == value
        req = seen[-1]
        assert req.url.raw_path == b"/things/a%20b%2Fc/parts/7?fail=0"
        assert req.headers["content-type"] == "application/json"
        assert req.headers["x-a"] == "1" and "x-gati-version" not in req.headers
        assert json.loads(req.content) == EVERYTHING
        trees = await api.list_things(version="2025-01-01")
        assert trees[0].label == "t" and seen[-1].headers["x-gati-version"] == "2025-01-01"
        assert await api.delete_thing("x") is None
        assert await api.raw() == "hello"
        assert await api.maybe() == models.Point(x=1.0, y=2.0)
        assert await api.maybe(none="1") is None
    await http.aclose()


async def test_errors_raise_with_the_structured_body(generated: Path) -> None:
    client_mod = _load("typed_client.client")
    models = _load("typed_client.models")
    body = {"error": {"status": 400, "code": "validation_failed", "message": "bad",
                      "request_id": "r1", "issues": [{"path": "$.email", "expected": "email",
                                                       "actual": "'x'", "code": "format"}],
                      "hint": "extra"}}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/users/5":
            return httpx.Response(502, text="bad gateway")
        return httpx.Response(400, json=body, headers={"x-request-id": "r1"})

    http = httpx.AsyncClient(transport=_transport([], answer))
    api = client_mod.Client("http://api.test", http=http)
    with pytest.raises(client_mod.GatiApiError) as caught:
        await api.create_user(models.CreateUser(name="a", email="x"))
    err = caught.value
    assert (err.status, err.code, err.request_id) == (400, "validation_failed", "r1")
    assert err.error.issues == (client_mod.ValidationIssue("$.email", "email", "'x'", "format"),)
    assert err.error.extra == {"hint": "extra"}
    with pytest.raises(client_mod.GatiApiError) as plain:
        await api.get_user(5)
    assert plain.value.status == 502 and plain.value.error is None
    await api.aclose()
    await http.aclose()


async def test_a_client_generated_for_a_version_pins_it(generated: Path) -> None:
    client_mod = _load("pinned_client.client")
    models = _load("pinned_client.models")
    assert client_mod.PINNED == {"get_user": "2024-01-01"}  # "both" has no v1
    seen: list[httpx.Request] = []
    http = httpx.AsyncClient(transport=_transport(
        seen, lambda r: httpx.Response(200, json={"name": "Ada"})))
    api = client_mod.Client("http://api.test", http=http)
    user = await api.get_user()
    assert user == models.User(name="Ada")  # v1's shape
    assert seen[-1].headers["x-gati-version"] == "2024-01-01"
    await api.get_user(version="v2")
    assert seen[-1].headers["x-gati-version"] == "v2"
    pinned_all = client_mod.Client("http://api.test", http=http, version="stable")
    await pinned_all.get_user()
    assert seen[-1].headers["x-gati-version"] == "stable"
    await http.aclose()
