"""User CRUD: ``gati dev examples.users.app:app`` serves it with zero setup.

Optional, all from the environment: ``USERS_API_KEY`` (a secret) turns on API-key auth
for every request but GET; ``USERS_SMTP_HOST``/``USERS_SMTP_PORT`` (and ``USERS_SMTP_USER``
with the secret ``USERS_SMTP_PASSWORD``) make ``POST /users`` send a welcome mail.
"""

from __future__ import annotations

import re
from typing import Any

from examples.users.db import EmailTaken, UsersDB
from examples.users.hooks import answer_unauthorized, audit, authenticate, timing_end, timing_start
from examples.users.mail import Mailer, MailError
from gati import App, GlobalContext, LocalContext, Request, RequestError, Response
from gati.core.context import SecretNotFound
from gati.core.redact import Secret

app = App("users")
app.module("db")(UsersDB)
# Unreachable or slow SMTP (ConnectionError, TimeoutError) is retried twice.
app.module("mail", timeout_s=15.0, retries=2)(Mailer)
app.before(authenticate)
app.catch(answer_unauthorized)

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


def _smtp_password(gctx: GlobalContext) -> dict[str, Secret]:
    try:
        return {"password": gctx.secrets.get("USERS_SMTP_PASSWORD")}
    except SecretNotFound:
        return {}


# Route hooks. After hooks run in reverse registration order: timing_end runs right
# after the handler, then audit.
@app.post("/users", before=[timing_start], after=[audit, timing_end])
async def create_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    """Create the user, then send the welcome mail; no mail, no user (502, retry later)."""
    fields = _user_fields(req.body, partial=False)
    try:
        user = await gctx.modules.db.insert_user(fields["name"], fields["email"])
    except EmailTaken:
        raise RequestError(
            f"{fields['email']} is already registered", code="email_taken", status=409
        ) from None
    lctx.set("user_id", user["id"])
    # Runs only if the request fails from here on (mail, after hooks): the user goes away.
    lctx.compensate(gctx.modules.db.delete_user, user["id"], name="delete_user")
    try:
        await gctx.modules.mail.send_welcome(fields["email"], fields["name"],
                                             **_smtp_password(gctx))
    except MailError:
        raise RequestError(
            "the welcome email could not be sent, so the user was not created; try again later",
            code="mail_failed", status=502,
        ) from None
    res.status(201).header("location", f"/users/{user['id']}").json(user)


@app.get("/users/{user_id:int}", before=[timing_start], after=[timing_end])
async def get_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    user = await gctx.modules.db.get_user(req.params["user_id"])
    if user is None:
        raise RequestError(f"no user {req.params['user_id']}", code="user_not_found", status=404)
    res.json(user)


@app.handler(
    "PATCH", "/users/{user_id:int}", before=[timing_start], after=[audit, timing_end]
)
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


@app.delete("/users/{user_id:int}", before=[timing_start], after=[audit, timing_end])
async def delete_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    if not await gctx.modules.db.delete_user(req.params["user_id"]):
        raise RequestError(f"no user {req.params['user_id']}", code="user_not_found", status=404)
    res.empty(204)


@app.get("/users", before=[timing_start], after=[timing_end])
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
