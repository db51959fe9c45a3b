"""Timescape on real processes: one handler in three versions, and a flaky one.

``POST /greet`` (handler ``greet``) exists as v1 (2024-01-01), v2 (2024-06-01) and v3
(2025-01-01), each with its own request and response shape; transformers join each
adjacent pair, so any older client can be served by a later handler. Every version
names itself in the ``x-served-by`` header (headers are not transformed), so a test can
tell which handler answered a body in another version's shape.

``GET /flaky`` (handler ``flaky``) has v1 and v2; v1 fails (500) when asked to with
``x-fail: 1``, which is how a test makes it unhealthy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gati import App, GlobalContext, LocalContext, Request, Response

app = App("timescape")
V1, V2, V3 = "2024-01-01", "2024-06-01", "2025-01-01"


@dataclass
class GreetV1:
    name: str


@dataclass
class GreetingV1:
    name: str
    text: str


@dataclass
class GreetV2:
    fullName: str


@dataclass
class GreetingV2:
    fullName: str
    text: str


@dataclass
class GreetV3:
    fullName: str
    excited: bool = False


@dataclass
class GreetingV3:
    fullName: str
    text: str
    words: int


def _text(name: str, excited: bool = False) -> str:
    return f"Hello, {name}" + ("!" if excited else "")


@app.post("/greet", handler_id="greet", version=V1, tags=["v1"], request=GreetV1,
          response=GreetingV1)
async def greet_v1(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    body: GreetV1 = req.body
    res.header("x-served-by", V1).json(GreetingV1(body.name, _text(body.name)))


@app.post("/greet", version=V2, tags=["v2"], request=GreetV2, response=GreetingV2)
async def greet_v2(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    body: GreetV2 = req.body
    res.header("x-served-by", V2).json(GreetingV2(body.fullName, _text(body.fullName)))


@app.post("/greet", version=V3, tags=["v3"], request=GreetV3, response=GreetingV3)
async def greet_v3(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    body: GreetV3 = req.body
    text = _text(body.fullName, body.excited)
    res.header("x-served-by", V3).json(GreetingV3(body.fullName, text, len(body.fullName.split())))


def _rename(body: Any, old: str, new: str) -> Any:
    if not isinstance(body, dict) or old not in body:
        return body  # an error body, or a request the next version's checks will refuse
    return {(new if k == old else k): v for k, v in body.items()}


def _drop(body: Any, key: str) -> Any:
    return {k: v for k, v in body.items() if k != key} if isinstance(body, dict) else body


def _same(body: Any) -> Any:
    return body


# v1 -> v2 renames name to fullName, both ways: up then down gives back a v1 body.
app.transformer("greet", V1, V2,
                request_up=lambda b: _rename(b, "name", "fullName"),
                response_down=lambda b: _rename(b, "fullName", "name"), lossless=True)
# v2 -> v3: requests are already valid v3 requests (excited defaults to False); v3's
# answer loses its extra field on the way down.
app.transformer("greet", V2, V3, request_up=_same,
                response_down=lambda b: _drop(b, "words"), lossless=True)


@app.get("/flaky", handler_id="flaky", version=V1, tags=["v1"])
async def flaky_v1(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    if req.headers.get("x-fail"):
        raise RuntimeError("v1 is having a bad day")
    res.header("x-served-by", V1).json({"ok": True})


@app.get("/flaky", version=V2, tags=["v2"])
async def flaky_v2(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    res.header("x-served-by", V2).json({"status": "ok"})


def _status_down(body: Any) -> Any:
    if not isinstance(body, dict) or "status" not in body:
        return body
    return {"ok": body["status"] == "ok"}


app.transformer("flaky", V1, V2, request_up=_same, response_down=_status_down)
