"""An app built to exercise the handler model end to end: hook levels, timeouts,
effects and secrets. Started by the integration tests as a real worker."""

from __future__ import annotations

import asyncio
from typing import Any

from gati import App, GlobalContext, LocalContext, Request, RequestError, Response

app = App("lifecycle")


class Vault:
    """A module whose results the tests can predict."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.calls = 0

    async def lookup(self, key: str) -> dict[str, Any]:
        self.calls += 1
        return {"key": key, "value": key.upper()}

    async def store(self, key: str, value: str) -> bool:
        return True


app.module("vault", timeout_s=2.0)(Vault)


def _order(lctx: LocalContext) -> list[str]:
    order: list[str] = lctx.get("order") or []
    lctx.set("order", order)
    return order


@app.before
async def global_before(
    req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
) -> None:
    _order(lctx).append("global-before")


@app.after
def global_after(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    _order(lctx).append("global-after")


async def local_before(
    req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
) -> None:
    _order(lctx).append("local-before")


async def local_after(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    _order(lctx).append("local-after")


async def route_before(
    req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
) -> None:
    _order(lctx).append("route-before")
    lctx.before(local_before)
    lctx.after(local_after)


async def route_after(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    _order(lctx).append("route-after")


@app.get("/ordered", before=[route_before], after=[route_after])
async def ordered(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    _order(lctx).append("handler")
    found = await gctx.modules.vault.lookup("alpha")
    res.json({"order": list(_order(lctx)), "found": found})


async def slow_cleanup(
    req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
) -> None:
    lctx.log.info("cleanup ran", path=req.path)


@app.get("/slow", timeout_s=0.3, cleanup=[slow_cleanup])
async def slow(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    await asyncio.sleep(30)
    res.json({"never": True})


@app.post("/secret")
async def use_secret(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    secret = gctx.secrets.get("CANARY_SECRET")
    value = secret.reveal()
    lctx.set("token", value)
    lctx.log.info("using the token", token=value)
    await gctx.modules.vault.store("token", value)
    lctx.snapshot("after-store")
    await gctx.publish("secret.used", {"token": value})
    if req.query_one("fail") == "client":
        raise RequestError(f"refusing token {value}", code="refused", status=422)
    if req.query_one("fail") == "server":
        raise RuntimeError(f"crashed while holding {value}")
    # Nothing derived from the secret's value in the answer: it could not replay.
    res.json({"ok": True})


class Vendor:
    """A module that receives a credential and fails, mentioning it."""

    def __init__(self, config: dict[str, Any]) -> None:
        return None

    async def verify(self, token: str, password: str) -> bool:
        return token.startswith("canary")


app.module("vendor")(Vendor)


@app.post("/canary")
async def canary(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    token = req.headers["authorization"].removeprefix("Bearer ")
    password = req.body["password"]
    lctx.log.info("checking", token=token)
    ok = await gctx.modules.vendor.verify(token, password)
    if req.query_one("fail") == "yes":
        raise RuntimeError(f"vendor rejected {token} / {password}")
    res.json({"verified": ok, "user": req.body["user"]})
