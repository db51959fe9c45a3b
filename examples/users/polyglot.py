"""The users example's out-of-process modules, on with ``USERS_MODULES=1``.

Two modules in other languages, each in its own sandbox (docs/module-protocol.md):

- ``ids`` (Go, ``modules/ids``): PBKDF2 password hashing. It declares no egress, so it
  runs with no network at all.
- ``avatar`` (Node, ``modules/avatar``): an SVG avatar of a user's initials, and a
  badge fetched from a directory service through the worker's broker, the one host:port
  its manifest allows. ``USERS_DIRECTORY`` (``host:port``) points the allowlist and the
  fetch at another directory, which is how the tests run one on a free port.

Off by default, so the example runs without Go or Node (scripts/modules.sh builds the
Go binary); ``gati replay`` of these requests needs neither: it serves the record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from gati import App, GlobalContext, LocalContext, Request, RequestError, Response
from gati.modules import load_spec, process_module

HERE = Path(__file__).resolve().parent / "modules"


@dataclass
class NewPassword:
    password: str


def register(app: App) -> None:
    """Register both modules and the three routes that use them."""
    process_module(app, HERE / "ids" / "gati-module.toml")
    avatar = load_spec(HERE / "avatar" / "gati-module.toml")
    directory = os.environ.get("USERS_DIRECTORY")
    if directory:
        avatar = replace(avatar, capabilities=replace(avatar.capabilities,
                                                      egress=(directory,)))
    process_module(app, avatar)
    directory_url = f"http://{avatar.capabilities.egress[0]}"

    @app.post("/users/{user_id:int}/password", request=NewPassword,
              handler_id="users.set_password")
    async def set_password(req: Request, res: Response, lctx: LocalContext,
                           gctx: GlobalContext) -> None:
        user = await _user(req, gctx)
        body: NewPassword = req.body
        password = body.password
        if len(password) < 8:
            raise RequestError("password must have at least 8 characters",
                               code="validation_error")
        salt = lctx.uuid().replace("-", "")[:16]
        hashed = await gctx.modules.ids.hash_password(password, salt)
        res.json({"id": user["id"], "scheme": hashed.split("$", 1)[0],
                  "verified": await gctx.modules.ids.verify_password(password, hashed)})

    @app.get("/users/{user_id:int}/avatar", handler_id="users.avatar")
    async def avatar_svg(req: Request, res: Response, lctx: LocalContext,
                         gctx: GlobalContext) -> None:
        user = await _user(req, gctx)
        size = int(req.query_one("size") or 64)
        res.text(await gctx.modules.avatar.avatar(user["name"], size), "image/svg+xml")

    @app.get("/users/{user_id:int}/badge", handler_id="users.badge")
    async def badge(req: Request, res: Response, lctx: LocalContext,
                    gctx: GlobalContext) -> None:
        user = await _user(req, gctx)
        res.json(await gctx.modules.avatar.badge(directory_url, user["email"]))


async def _user(req: Request, gctx: GlobalContext) -> dict[str, str]:
    user = await gctx.modules.db.get_user(int(req.params["user_id"]))
    if user is None:
        raise RequestError(f"no user {req.params['user_id']}", code="not_found", status=404)
    return dict(user)
