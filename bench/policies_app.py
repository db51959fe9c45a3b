"""The policies bench's app: one user insert behind two routes, all policies on or off.

``POST /users-on``: a JWT required (HS256, verified at the gateway), a rate limit
(``1000000/minute`` per principal: counted on every request, never reached) and an
``Idempotency-Key`` (a claim per request). ``POST /users-off``: none of them. Both insert
a user with the example's database module, so each request does real work.
``POST /users-auth`` needs the JWT only (to tell the costs apart).
"""

from __future__ import annotations

import os

from examples.users.db import UsersDB
from gati import App, GlobalContext, LocalContext, Request, Response
from gati.policy import AuthConfig, JWTConfig

app = App("bench_policies", auth=AuthConfig.of(jwt=JWTConfig(
    algorithms=("HS256",), secret=os.environ.get("BENCH_JWT_SECRET", "bench-secret-0123456789"),
    audience="bench")))
app.module("db")(UsersDB)


async def _insert(req: Request, res: Response, gctx: GlobalContext) -> None:
    user = await gctx.modules.db.insert_user(req.body["name"], req.body["email"])
    res.status(201).json(user)


@app.post("/users-on", auth="required", rate_limit="1000000/minute", idempotency="optional")
async def users_on(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    await _insert(req, res, gctx)


@app.post("/users-auth", auth="required")
async def users_auth(req: Request, res: Response, lctx: LocalContext,
                     gctx: GlobalContext) -> None:
    await _insert(req, res, gctx)


@app.post("/users-off", auth="none")
async def users_off(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    await _insert(req, res, gctx)
