"""invoke: one handler function with a real lctx / gctx, no app, no routing."""

from __future__ import annotations

from typing import Any

import pytest

from gati import GlobalContext, LocalContext, Request, RequestError, Response
from gati.testing import UnscriptedCall, invoke, make_request


async def rename(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    user = await gctx.modules.db.get_user(req.params["user_id"])
    if user is None:
        raise RequestError("no such user", code="user_not_found", status=404)
    lctx.set("renamed_by", lctx.get("principal"))
    lctx.log.info("renamed", id=user["id"])
    res.json({**user, "name": req.body["name"], "at": lctx.now_us()})


async def test_invoke_returns_what_the_handler_sent_and_its_state() -> None:
    req = make_request("PATCH", "/users/3", params={"user_id": 3}, json={"name": "Bea"})

    out = await invoke(rename, req, modules={"db": {"get_user": {"id": 3, "name": "B"}}},
                       state={"principal": "admin"})

    assert out.sent and out.status == 200
    assert out.json()["name"] == "Bea"
    assert out.state == {"principal": "admin", "renamed_by": "admin"}
    assert out.calls("db")[0].args == (3,)
    assert out.log_lines[0].fields == {"id": 3}
    assert out.stages == ["handler_start", "effect", "log", "effect", "handler_end"]


async def test_a_handler_error_propagates_like_a_direct_call() -> None:
    req = make_request(params={"user_id": 4}, json={"name": "x"})

    with pytest.raises(RequestError, match="no such user"):
        await invoke(rename, req, modules={"db": {"get_user": None}})


async def test_an_unscripted_call_in_invoke_names_module_and_method() -> None:
    req = make_request(params={"user_id": 4}, json={"name": "x"})

    with pytest.raises(UnscriptedCall, match=r"db\.get_user"):
        await invoke(rename, req, modules={"db": {}})


async def test_a_wrapped_script_error_is_still_reported_as_the_script_error() -> None:
    async def wraps(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        try:
            await gctx.modules.db.nope()
        except Exception as exc:
            raise RuntimeError("wrapped") from exc

    with pytest.raises(UnscriptedCall):
        await invoke(wraps, modules={"db": {}})


async def test_sync_handlers_run_in_a_thread_and_can_leave_the_response_unsent() -> None:
    seen: list[Any] = []

    def peek(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        seen.append((req.method, req.path, req.query_one("q"), gctx.config["mode"],
                     lctx.meta.flags))

    out = await invoke(peek, make_request("GET", "/p?q=1"), config={"mode": "test"},
                       flags={"beta": "1"})

    assert not out.sent and out.body == b""
    assert seen == [("GET", "/p", "1", "test", {"beta": "1"})]


def test_make_request_rejects_unknown_options() -> None:
    with pytest.raises(TypeError, match="unexpected options"):
        make_request(jsn={})
