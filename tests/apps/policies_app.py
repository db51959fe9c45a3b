"""An app with auth policies for the issue-18 tests: JWT (JWKS and HS256) and API keys.

Configured from the environment the test gives its processes: ``POLICIES_JWKS_URL``
(the test's own JWKS server), ``POLICIES_HS_SECRET``, ``POLICIES_API_KEYS`` (digests
``sha256:<hex>=subject:role|role``, comma-separated), ``POLICIES_JWKS_MIN_REFRESH_S``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.policy import CORS, ApiKey, AuthConfig, JWTConfig

ISSUER = "https://issuer.gati.test"
AUDIENCE = "gati-tests"


def _api_keys() -> list[ApiKey]:
    keys = []
    for item in filter(None, os.environ.get("POLICIES_API_KEYS", "").split(",")):
        digest, _, who = item.partition("=")
        subject, _, roles = who.partition(":")
        keys.append(ApiKey(digest, subject, tuple(filter(None, roles.split("|")))))
    return keys


app = App("policies", auth=AuthConfig.of(
    jwt=JWTConfig(
        algorithms=("RS256", "ES256", "HS256"), issuer=ISSUER, audience=AUDIENCE,
        jwks_url=os.environ.get("POLICIES_JWKS_URL", "http://127.0.0.1:9/jwks.json"),
        secret=os.environ.get("POLICIES_HS_SECRET", "not-configured-in-this-process"),
        jwks_min_refresh_s=float(os.environ.get("POLICIES_JWKS_MIN_REFRESH_S", "10")),
    ),
    api_keys=_api_keys(), realm="policies", cors=CORS.of(["https://app.gati.test"]),
))


@app.get("/public", auth="none")
async def public(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    res.json({"public": True})


@app.get("/me", auth="required")
async def me(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    assert req.auth is not None and lctx.meta.principal == req.auth
    res.json({"subject": req.auth.subject, "method": req.auth.method,
              "roles": list(req.auth.roles), "tenant": req.auth.tenant})


@app.get("/admin", roles=["admin"])
async def admin(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    assert req.auth is not None
    res.json({"admin": req.auth.subject})


@app.get("/maybe", auth="optional")
async def maybe(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    res.json({"subject": None if req.auth is None else req.auth.subject})


class Vendor:
    """Stands for a third party the values are sent to; its answers are recorded."""

    def __init__(self, config: dict[str, object]) -> None:
        pass

    async def lengths(self, *values: str) -> list[int]:
        return [len(v) for v in values]


app.module("vendor")(Vendor)


@app.post("/canary", auth="none")
async def canary(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    """Uses each sensitive value the way handlers do: logs them and passes them on."""
    header = req.headers["x-vendor-token"]
    query = req.query_one("access_token") or ""
    password = req.body["password"]
    lctx.log.info("checking", header=header, query=query, password=password)
    lengths = await gctx.modules.vendor.lengths(header, query, password)
    res.json({"same": header == query, "lengths": lengths})


class Ledger:
    """A real side effect to count: one line per account, in ``POLICIES_LEDGER``."""

    def __init__(self, config: dict[str, object]) -> None:
        self.path = Path(os.environ.get("POLICIES_LEDGER", ".gati/policies-ledger"))

    async def create(self, name: str) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(name + "\n")
        return len(self.path.read_text().splitlines())


class Gate:
    """Holds a request until the test's gate server (``host:port``) sends a byte.

    Changes nothing, so it is not journaled: a resumed request waits at the gate again.
    """

    def __init__(self, config: dict[str, object]) -> None:
        pass

    async def wait_for(self, address: str) -> bool:
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            return await reader.read(1) == b"1"
        finally:
            writer.close()


app.module("ledger")(Ledger)
app.module("gate", timeout_s=120.0, journal=False)(Gate)


@app.post("/accounts", auth="optional", idempotency="optional")
async def create_account(req: Request, res: Response, lctx: LocalContext,
                         gctx: GlobalContext) -> None:
    number = await gctx.modules.ledger.create(req.body["name"])
    if req.body.get("hold"):
        await gctx.modules.gate.wait_for(req.body["hold"])
    res.status(201).header("x-account", str(number)).json(
        {"number": number, "name": req.body["name"]})


@app.post("/transfers", auth="none", idempotency="required")
async def transfer(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    res.status(201).json({"ok": True})


@app.get("/limited", auth="optional", rate_limit="10/minute")
async def limited(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    res.json({"subject": None if req.auth is None else req.auth.subject})


@app.get("/limited-by-ip", auth="none", rate_limit="5/minute per ip")
async def limited_by_ip(req: Request, res: Response, lctx: LocalContext,
                        gctx: GlobalContext) -> None:
    res.json({})
