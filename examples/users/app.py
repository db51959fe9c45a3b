"""User CRUD: ``gati dev examples.users.app:app`` serves it with zero setup."""

from __future__ import annotations

import re
from typing import Any

from examples.users.db import EmailTaken, UsersDB
from gati import App, GlobalContext, LocalContext, Request, RequestError, Response

app = App("users")
app.module("db")(UsersDB)
app.try_it = [
    "curl -s -i -X POST {url}/users -H 'content-type: application/json' "
    '-d \'{{"name": "Ada Lovelace", "email": "ada@example.com"}}\'',
    "curl -s {url}/users/1",
]

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _user_fields(body: Any, *, partial: bool) -> dict[str, str]:
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object", code="validation_error")
    fields: dict[str, str] = {}
    for name in ("name", "email"):
        value = body.get(name)
        if value is None:
            if not partial:
                raise RequestError(f"field {name!r} is required", code="validation_error")
            continue
        if not isinstance(value, str) or not value.strip():
            raise RequestError(
                f"field {name!r} must be a non-empty string", code="validation_error"
            )
        fields[name] = value.strip()
    if "email" in fields and not EMAIL.match(fields["email"]):
        raise RequestError("field 'email' is not an email address", code="validation_error")
    if partial and not fields:
        raise RequestError("nothing to update: give name and/or email", code="validation_error")
    return fields


@app.post("/users")
async def create_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    fields = _user_fields(req.body, partial=False)
    try:
        user = await gctx.modules.db.insert_user(fields["name"], fields["email"])
    except EmailTaken:
        raise RequestError(
            f"{fields['email']} is already registered", code="email_taken", status=409
        ) from None
    res.status(201).header("location", f"/users/{user['id']}").json(user)


@app.get("/users/{user_id:int}")
async def get_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    user = await gctx.modules.db.get_user(req.params["user_id"])
    if user is None:
        raise RequestError(f"no user {req.params['user_id']}", code="user_not_found", status=404)
    res.json(user)


@app.handler("PATCH", "/users/{user_id:int}")
async def update_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    fields = _user_fields(req.body, partial=True)
    try:
        user = await gctx.modules.db.update_user(req.params["user_id"], fields)
    except EmailTaken:
        raise RequestError(
            f"{fields['email']} is already registered", code="email_taken", status=409
        ) from None
    if user is None:
        raise RequestError(f"no user {req.params['user_id']}", code="user_not_found", status=404)
    res.json(user)


@app.delete("/users/{user_id:int}")
async def delete_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    if not await gctx.modules.db.delete_user(req.params["user_id"]):
        raise RequestError(f"no user {req.params['user_id']}", code="user_not_found", status=404)
    res.empty(204)


@app.get("/users")
async def list_users(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    try:
        limit = int(req.query_one("limit", "50") or "50")
        after = int(req.query_one("after", "0") or "0")
    except ValueError:
        raise RequestError("limit and after must be integers", code="validation_error") from None
    if not 1 <= limit <= 500:
        raise RequestError("limit must be between 1 and 500", code="validation_error")
    users = await gctx.modules.db.list_users(limit, after)
    res.json({"users": users, "next_after": users[-1]["id"] if len(users) == limit else None})
