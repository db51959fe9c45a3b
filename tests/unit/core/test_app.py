"""App registration: mistakes fail when the app is defined, naming what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from gati import App
from gati.errors import AppError


def test_async_and_sync_four_argument_handlers_are_accepted() -> None:
    app = App("shop")

    @app.get("/a")
    async def async_handler(req: Any, res: Any, lctx: Any, gctx: Any) -> None: ...

    @app.post("/b")
    def sync_handler(req: Any, res: Any, lctx: Any, gctx: Any) -> None: ...

    specs = {spec.path: spec for spec in app.handlers.values()}
    assert specs["/a"].is_async is True
    assert specs["/b"].is_async is False
    assert app.router.match("GET", "/a").route.target.latest.target.func is async_handler
    assert app.router.match("POST", "/b").route.target.latest.target.func is sync_handler


def test_a_three_argument_handler_is_refused_naming_it() -> None:
    app = App("shop")
    with pytest.raises(AppError) as info:

        @app.get("/x")
        async def too_few(req: Any, res: Any, lctx: Any) -> None: ...

    assert "too_few" in info.value.message
    assert "3 positional parameters" in info.value.message
    assert app.handlers == {}


def test_a_five_argument_handler_is_refused_naming_it() -> None:
    app = App("shop")
    with pytest.raises(AppError) as info:

        @app.get("/x")
        def too_many(req: Any, res: Any, lctx: Any, gctx: Any, extra: Any) -> None: ...

    assert "too_many" in info.value.message
    assert "5 positional parameters" in info.value.message


def test_a_required_keyword_only_parameter_is_refused_naming_it() -> None:
    app = App("shop")
    with pytest.raises(AppError) as info:

        @app.get("/x")
        async def needs_kw(req: Any, res: Any, lctx: Any, gctx: Any, *, user: Any) -> None: ...

    assert "needs_kw" in info.value.message
    assert "user" in info.value.message


def test_an_optional_keyword_only_parameter_is_fine() -> None:
    app = App("shop")

    @app.get("/x")
    async def with_default(
        req: Any, res: Any, lctx: Any, gctx: Any, *, debug: bool = False
    ) -> None: ...

    assert len(app.handlers) == 1


@pytest.mark.parametrize("method", ["FETCH", "", "GET "])
def test_an_unknown_http_method_is_refused(method: str) -> None:
    app = App("shop")
    with pytest.raises(AppError, match="unknown HTTP method"):
        app.handler(method, "/x")


def test_methods_are_case_insensitive() -> None:
    app = App("shop")

    @app.handler("patch", "/x")
    async def h(req: Any, res: Any, lctx: Any, gctx: Any) -> None: ...

    assert app.router.match("PATCH", "/x").route.target.method == "PATCH"


def test_a_non_positive_timeout_is_refused() -> None:
    app = App("shop")
    with pytest.raises(AppError, match="timeout_s"):
        app.get("/x", timeout_s=0)


def test_a_module_name_registered_twice_is_refused() -> None:
    app = App("shop")
    app.module("db")(lambda config: object())
    with pytest.raises(AppError, match="'db' is registered twice"):
        app.module("db")
    assert list(app.modules) == ["db"]


def test_a_module_name_must_be_an_identifier() -> None:
    with pytest.raises(AppError, match="identifier"):
        App("shop").module("my-db")


def test_two_handlers_with_the_same_id_are_refused() -> None:
    app = App("shop")

    @app.get("/a", handler_id="same")
    async def first(req: Any, res: Any, lctx: Any, gctx: Any) -> None: ...

    with pytest.raises(AppError, match="'same' is registered twice"):

        @app.get("/b", handler_id="same")
        async def second(req: Any, res: Any, lctx: Any, gctx: Any) -> None: ...


def test_a_clashing_route_fails_at_registration() -> None:
    app = App("shop")

    @app.get("/users/{id}")
    async def a(req: Any, res: Any, lctx: Any, gctx: Any) -> None: ...

    with pytest.raises(AppError, match="conflicts"):

        @app.get("/users/{name}")
        async def b(req: Any, res: Any, lctx: Any, gctx: Any) -> None: ...


@pytest.mark.parametrize("name", ["", "my app", "1st", "a/b"])
def test_an_app_name_must_be_an_identifier(name: str) -> None:
    with pytest.raises(AppError, match="app name"):
        App(name)


def test_app_config_is_a_copy() -> None:
    config = {"greeting": "hi"}
    app = App("shop", config=config)
    config["greeting"] = "changed"
    assert app.config == {"greeting": "hi"}
