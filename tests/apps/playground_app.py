"""The app the playground's tests record and replay.

``app`` is the code that served the recorded traffic; ``changed`` is the same app after
an edit to ``/greet`` (its greeting), so a replay of a recorded ``/greet`` diverges there
while every other route replays identically. ``/user`` has two versions (v1, v2) with
transformers between them, for replay against another version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gati import App, GlobalContext, LocalContext, Request, Response


class Stock:
    async def reserve(self, item: str, qty: int) -> dict[str, Any]:
        return {"item": item, "qty": qty, "left": 10 - qty}


@dataclass
class UserV1:
    name: str
    email: str


@dataclass
class UserV2:
    firstName: str
    lastName: str
    email: str


def _split(body: dict[str, Any] | None) -> dict[str, Any] | None:
    if body is None:  # a GET carries no body up
        return None
    first, _, last = body["name"].partition(" ")
    return {"firstName": first, "lastName": last, "email": body["email"]}


def _join(body: dict[str, Any]) -> dict[str, Any]:
    return {"name": f"{body['firstName']} {body['lastName']}".strip(), "email": body["email"]}


def build(greeting: str = "Hello") -> App:
    a = App("playground-demo")
    a.module("stock")(lambda config: Stock())

    @a.before
    async def audit(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        lctx.set("audited", True)

    @a.after
    async def stamp(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        lctx.set("stamped", True)

    @a.post("/orders", handler_id="demo.create_order", snapshots="always")
    async def create_order(req: Request, res: Response, lctx: LocalContext,
                           gctx: GlobalContext) -> None:
        body = req.body
        lctx.set("item", body["item"])
        reserved = await gctx.modules.stock.reserve(body["item"], int(body["qty"]))
        lctx.set("reserved", reserved)
        res.status(201).json({"order": lctx.uuid(), "reserved": reserved,
                              "audited": lctx.get("audited")})

    @a.get("/greet/{name}", handler_id="demo.greet")
    async def greet(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json({"greeting": f"{greeting}, {req.params['name']}"})

    @a.get("/user", handler_id="demo.user", version="2024-01-01", tags=["v1"], response=UserV1)
    async def user_v1(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json(UserV1("Ada Lovelace", "ada@example.com"))

    @a.get("/user", handler_id="demo.user", version="2025-01-01", tags=["v2"], response=UserV2)
    async def user_v2(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json(UserV2("Ada", "Lovelace", "ada@example.com"))

    a.transformer("demo.user", "2024-01-01", "2025-01-01", request_up=_split,
                  response_down=_join, lossless=True)
    a.validate()
    return a


app = build()
changed = build(greeting="Howdy")
