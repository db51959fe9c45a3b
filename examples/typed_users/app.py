"""User CRUD with declared types: the contract-first twin of ``examples.users``.

The same routes on the same ``UsersDB`` module, but every body is a Python type, so
Gati validates requests (400 with every failing field) and responses (500), and
``gati manifest``, ``gati schemas`` and ``gati codegen`` derive everything from them::

    gati dev examples.typed_users.app:app
    gati codegen openapi examples.typed_users.app:app
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from examples.users.db import EmailTaken, UsersDB
from gati import App, GlobalContext, LocalContext, Request, RequestError, Response, hook
from gati.types import Description, Format, Max, MaxLen, Min, MinLen, Pattern

# A printable name: no control characters (Postgres text refuses NUL), not blank.
Name = Annotated[
    str, MinLen(1), MaxLen(100), Pattern(r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$"),
    Description("The user's display name."),
]
Email = Annotated[str, Format("email"), MaxLen(254), Pattern(r"^[^\x00-\x1f\x7f]+$")]
# ``example_users.id`` is an INTEGER: 32 bits on Postgres, so larger ids cannot exist
# (and asking Postgres for one would fail, not miss).
_MAX_ID = 2**31 - 1
UserId = Annotated[int, Min(1), Max(_MAX_ID)]


@dataclass
class CreateUser:
    """A new user."""

    name: Name
    email: Email


@dataclass
class UpdateUser:
    """The fields to change; at least one."""

    name: Name | None = None
    email: Email | None = None


@dataclass
class User:
    """A stored user."""

    id: UserId
    name: str
    email: str


@dataclass
class UserPage:
    """One page of users, by id; ``next_after`` continues the listing."""

    users: list[User]
    next_after: int | None


app = App("typed_users")
app.module("db", timeout_s=5.0)(UsersDB)

app.try_it = [
    "curl -s -i -X POST {url}/users -H 'content-type: application/json' "
    '-d \'{{"name": "Ada Lovelace", "email": "ada@example.com"}}\'',
    "curl -s {url}/users/1",
]


@app.before
async def stamp(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    """Global before hook: remembers when the request started (for the after hook)."""
    lctx.set("started_us", lctx.now_us())


async def served_by(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    """Route after hook: names the example in a response header."""
    res.header("x-served-by", "typed_users")


_served_by = hook(served_by, timeout_s=1.0)


def _user_id(req: Request) -> int:
    user_id = req.params["user_id"]
    assert isinstance(user_id, int)
    if not 1 <= user_id <= _MAX_ID:
        raise RequestError(f"no user {user_id}", code="user_not_found", status=404)
    return user_id


@app.post("/users", request=CreateUser, response=User, after=[_served_by])
async def create_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    """Create a user; 409 if the email is taken."""
    body: CreateUser = req.body
    try:
        user = await gctx.modules.db.insert_user(body.name, body.email)
    except EmailTaken:
        raise RequestError(
            f"{body.email} is already registered", code="email_taken", status=409
        ) from None
    res.status(201).header("location", f"/users/{user['id']}").json(user)


@app.get("/users/{user_id:int}", response=User, after=[_served_by])
async def get_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    """One user by id."""
    user = await gctx.modules.db.get_user(_user_id(req))
    if user is None:
        raise RequestError(f"no user {req.params['user_id']}", code="user_not_found", status=404)
    res.json(user)


@app.handler("PATCH", "/users/{user_id:int}", request=UpdateUser, response=User)
async def update_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    """Change a user's name and/or email."""
    body: UpdateUser = req.body
    changes = {k: v for k, v in (("name", body.name), ("email", body.email)) if v is not None}
    if not changes:
        raise RequestError("nothing to update: give name and/or email", code="empty_update")
    try:
        user = await gctx.modules.db.update_user(_user_id(req), changes)
    except EmailTaken:
        raise RequestError(
            f"{changes.get('email')} is already registered", code="email_taken", status=409
        ) from None
    if user is None:
        raise RequestError(f"no user {req.params['user_id']}", code="user_not_found", status=404)
    res.json(user)


@app.delete("/users/{user_id:int}")
async def delete_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    """Delete a user; 204 when done."""
    if not await gctx.modules.db.delete_user(_user_id(req)):
        raise RequestError(f"no user {req.params['user_id']}", code="user_not_found", status=404)
    res.empty(204)


@app.get("/users", response=UserPage)
async def list_users(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    """Users in id order: ``?limit=`` (1-500, default 50), ``?after=`` (an id, default 0)."""
    try:
        limit = int(req.query_one("limit", "50") or "50")
        after = int(req.query_one("after", "0") or "0")
    except ValueError:
        raise RequestError("limit and after must be integers", code="invalid_query") from None
    if not 1 <= limit <= 500 or not 0 <= after <= _MAX_ID:
        raise RequestError("limit must be 1-500 and after 0 or an id", code="invalid_query")
    users = await gctx.modules.db.list_users(limit, after)
    res.json({"users": users, "next_after": users[-1]["id"] if len(users) == limit else None})
