"""User CRUD: ``gati dev examples.users.app:app`` serves it with zero setup.

Optional, all from the environment: an API key turns on auth for every request but GET
(the route policy ``auth="required"``, checked by the gateway: docs/policies.md):
``USERS_API_KEY_SHA256``, the key's ``sha256:<hex>`` digest (``gati.policy.hash_api_key``;
two, comma-separated, while a key is rotated), or ``USERS_API_KEY``, the key itself,
hashed at import (replay with the same setting: whether a write needs a key is
configuration). ``USERS_SMTP_HOST``/``USERS_SMTP_PORT`` (and ``USERS_SMTP_USER`` with
the secret ``USERS_SMTP_PASSWORD``) make ``POST /users`` send a welcome mail.

Two versions of the API live side by side (Timescape, docs/timescape.md): v1
(``2025-01-01``, tagged ``stable``: what a client gets without asking) has one ``name``;
v2 (``2025-06-01``) has ``firstName`` and ``lastName``. A client picks one with
``X-Gati-Version: v2`` (or ``?version=v2``, or a date). Transformers between them let an
operator retire v1 while its clients keep getting v1's shape, served by v2.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from examples.users.db import EmailTaken, UsersDB, join_name, split_name
from examples.users.hooks import api_keys, audit, timing_end, timing_start
from examples.users.mail import Mailer, MailError
from gati import App, GlobalContext, LocalContext, Request, RequestError, Response
from gati.core.context import SecretNotFound
from gati.core.redact import Secret
from gati.policy import AuthConfig

API_KEYS = api_keys(os.environ)
# Without a key nobody is authenticated and every route is open, as with zero setup.
app = App("users", auth=AuthConfig.of(api_keys=API_KEYS, realm="users"))
app.module("db")(UsersDB)
# Unreachable or slow SMTP (ConnectionError, TimeoutError) is retried twice.
app.module("mail", timeout_s=15.0, retries=2)(Mailer)

app.try_it = [
    "curl -s -i -X POST {url}/users -H 'content-type: application/json' "
    '-d \'{{"name": "Ada Lovelace", "email": "ada@example.com"}}\'',
    "curl -s {url}/users/1",
    "curl -s {url}/users/1 -H 'x-gati-version: v2'",
]

V1, V2 = "2025-01-01", "2025-06-01"
V1_TAGS, V2_TAGS = ["v1", "stable"], ["v2"]
# Every route has the example's hooks, in every version. After hooks run in reverse
# registration order: timing_end runs right after the handler, then audit. Writes need
# the API key when one is configured (401 from the policy otherwise); reads do not, but
# a key that is presented must be right (401 too).
WRITE_AUTH: dict[str, Any] = {"auth": "required"} if API_KEYS else {}
READ_HOOKS: dict[str, Any] = {"before": [timing_start], "after": [timing_end]}
WRITE_HOOKS: dict[str, Any] = {"before": [timing_start], "after": [audit, timing_end],
                               **WRITE_AUTH}


# v1 bodies. Gati checks requests against them (400 validation_failed for a missing or
# non-string field) and the handlers check the rest (400 validation_error).
@dataclass
class NewUserV1:
    name: str
    email: str


@dataclass
class UserChangesV1:
    name: str | None = None
    email: str | None = None


@dataclass
class UserV1:
    id: int
    name: str
    email: str


@dataclass
class UserPageV1:
    users: list[UserV1]
    next_after: int | None


# v2 bodies: the name in two parts. lastName may be "" (a single name).
@dataclass
class NewUserV2:
    firstName: str
    lastName: str
    email: str


@dataclass
class UserChangesV2:
    firstName: str | None = None
    lastName: str | None = None
    email: str | None = None


@dataclass
class UserV2:
    id: int
    firstName: str
    lastName: str
    email: str


@dataclass
class UserPageV2:
    users: list[UserV2]
    next_after: int | None


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _checked(
    values: dict[str, str | None], *, partial: bool, may_be_empty: tuple[str, ...] = ()
) -> dict[str, str]:
    """The given fields, stripped; None means "not given" (allowed only if ``partial``)."""
    fields: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            if not partial:
                raise RequestError(f"field {name!r} is required", code="validation_error")
            continue
        if not value.strip() and name not in may_be_empty:
            raise RequestError(
                f"field {name!r} must be a non-empty string", code="validation_error"
            )
        fields[name] = value.strip()
    if "email" in fields and not EMAIL.match(fields["email"]):
        raise RequestError("field 'email' is not an email address", code="validation_error")
    if partial and not fields:
        raise RequestError(
            f"nothing to update: give {' and/or '.join(values)}", code="validation_error"
        )
    return fields


def _smtp_password(gctx: GlobalContext) -> dict[str, Secret]:
    try:
        return {"password": gctx.secrets.get("USERS_SMTP_PASSWORD")}
    except SecretNotFound:
        return {}


def _v2(person: dict[str, Any]) -> dict[str, Any]:
    """The db module's v2 row as v2's JSON."""
    return {"id": person["id"], "firstName": person["first_name"],
            "lastName": person["last_name"], "email": person["email"]}


def _taken(email: str) -> RequestError:
    return RequestError(f"{email} is already registered", code="email_taken", status=409)


def _not_found(req: Request) -> RequestError:
    return RequestError(f"no user {req.params['user_id']}", code="user_not_found", status=404)


async def _welcome(
    lctx: LocalContext, gctx: GlobalContext, user_id: int, email: str, name: str
) -> None:
    """Send the welcome mail; no mail, no user (502, retry later)."""
    lctx.set("user_id", user_id)
    # Runs only if the request fails from here on (mail, after hooks): the user goes away.
    lctx.compensate(gctx.modules.db.delete_user, user_id, name="delete_user")
    try:
        await gctx.modules.mail.send_welcome(email, name, **_smtp_password(gctx))
    except MailError:
        raise RequestError(
            "the welcome email could not be sent, so the user was not created; try again later",
            code="mail_failed", status=502,
        ) from None


# ---- v1: {name, email} ----------------------------------------------------------


@app.post("/users", version=V1, tags=V1_TAGS, request=NewUserV1, response=UserV1,
          **WRITE_HOOKS)
async def create_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    """Create the user, then send the welcome mail; no mail, no user (502, retry later)."""
    body: NewUserV1 = req.body
    fields = _checked({"name": body.name, "email": body.email}, partial=False)
    try:
        user = await gctx.modules.db.insert_user(fields["name"], fields["email"])
    except EmailTaken:
        raise _taken(fields["email"]) from None
    await _welcome(lctx, gctx, user["id"], fields["email"], fields["name"])
    res.status(201).header("location", f"/users/{user['id']}").json(user)


@app.get("/users/{user_id:int}", version=V1, tags=V1_TAGS, response=UserV1, **READ_HOOKS)
async def get_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    user = await gctx.modules.db.get_user(req.params["user_id"])
    if user is None:
        raise _not_found(req)
    res.json(user)


@app.handler("PATCH", "/users/{user_id:int}", version=V1, tags=V1_TAGS,
             request=UserChangesV1, response=UserV1, **WRITE_HOOKS)
async def update_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    body: UserChangesV1 = req.body
    fields = _checked({"name": body.name, "email": body.email}, partial=True)
    try:
        user = await gctx.modules.db.update_user(req.params["user_id"], fields)
    except EmailTaken:
        raise _taken(fields.get("email", "")) from None
    if user is None:
        raise _not_found(req)
    res.json(user)


@app.delete("/users/{user_id:int}", version=V1, tags=V1_TAGS, **WRITE_HOOKS)
async def delete_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    if not await gctx.modules.db.delete_user(req.params["user_id"]):
        raise _not_found(req)
    res.empty(204)


def _page(req: Request) -> tuple[int, int]:
    try:
        limit = int(req.query_one("limit", "50") or "50")
        after = int(req.query_one("after", "0") or "0")
    except ValueError:
        raise RequestError("limit and after must be integers", code="validation_error") from None
    if not 1 <= limit <= 500:
        raise RequestError("limit must be between 1 and 500", code="validation_error")
    return limit, after


@app.get("/users", version=V1, tags=V1_TAGS, response=UserPageV1, **READ_HOOKS)
async def list_users(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    limit, after = _page(req)
    users = await gctx.modules.db.list_users(limit, after)
    res.json({"users": users, "next_after": users[-1]["id"] if len(users) == limit else None})


# ---- v2: {firstName, lastName, email}, on the same table --------------------------


@app.post("/users", version=V2, tags=V2_TAGS, request=NewUserV2, response=UserV2,
          **WRITE_HOOKS)
async def create_user_v2(
    req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
) -> None:
    body: NewUserV2 = req.body
    fields = _checked({"firstName": body.firstName, "lastName": body.lastName,
                       "email": body.email}, partial=False, may_be_empty=("lastName",))
    first, last, email = fields["firstName"], fields["lastName"], fields["email"]
    try:
        person = await gctx.modules.db.insert_person(first, last, email)
    except EmailTaken:
        raise _taken(email) from None
    await _welcome(lctx, gctx, person["id"], email, join_name(first, last))
    res.status(201).header("location", f"/users/{person['id']}").json(_v2(person))


@app.get("/users/{user_id:int}", version=V2, tags=V2_TAGS, response=UserV2, **READ_HOOKS)
async def get_user_v2(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    person = await gctx.modules.db.get_person(req.params["user_id"])
    if person is None:
        raise _not_found(req)
    res.json(_v2(person))


@app.handler("PATCH", "/users/{user_id:int}", version=V2, tags=V2_TAGS,
             request=UserChangesV2, response=UserV2, **WRITE_HOOKS)
async def update_user_v2(
    req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
) -> None:
    body: UserChangesV2 = req.body
    fields = _checked({"firstName": body.firstName, "lastName": body.lastName,
                       "email": body.email}, partial=True, may_be_empty=("lastName",))
    names = {"firstName": "first_name", "lastName": "last_name", "email": "email"}
    try:
        person = await gctx.modules.db.update_person(
            req.params["user_id"], {names[k]: v for k, v in fields.items()})
    except EmailTaken:
        raise _taken(fields.get("email", "")) from None
    if person is None:
        raise _not_found(req)
    res.json(_v2(person))


# Deleting is the same in both versions; v2 exists so a v2 client can pin every route.
app.delete("/users/{user_id:int}", version=V2, tags=V2_TAGS, **WRITE_HOOKS)(delete_user)


@app.get("/users", version=V2, tags=V2_TAGS, response=UserPageV2, **READ_HOOKS)
async def list_users_v2(
    req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
) -> None:
    limit, after = _page(req)
    people = [_v2(p) for p in await gctx.modules.db.list_people(limit, after)]
    res.json({"users": people, "next_after": people[-1]["id"] if len(people) == limit else None})


# ---- transformers v1 <-> v2 -------------------------------------------------------
# request_up turns a v1 request body into v2's; response_down turns v2's answer back
# into v1's. They run only when v1 cannot serve (deactivated or unhealthy). Bodies
# that are not the expected shape (an error body, a malformed request) pass unchanged:
# v2's own checks then answer for them.
#
# None is declared lossless: "Ada  Lovelace" (two spaces) goes up as firstName "Ada",
# lastName "Lovelace" and comes down as "Ada Lovelace". Only DELETE's are (identity).


def name_up(body: Any) -> Any:
    """{name, email} -> {firstName, lastName, email}: the first word, then the rest."""
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return body
    first, last = split_name(body["name"])
    rest = {k: v for k, v in body.items() if k != "name"}
    return {"firstName": first, "lastName": last, **rest}


def user_down(body: Any) -> Any:
    """{id, firstName, lastName, email} -> {id, name, email}."""
    if not isinstance(body, dict) or "firstName" not in body:
        return body
    name = join_name(body["firstName"], body.get("lastName") or "")
    return {"id": body["id"], "name": name, "email": body["email"]}


def page_down(body: Any) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get("users"), list):
        return body
    return {"users": [user_down(u) for u in body["users"]], "next_after": body["next_after"]}


def unchanged(body: Any) -> Any:
    return body


_ids = {(fam.method, fam.path): hid for hid, fam in app.families.items()}
app.transformer(_ids["POST", "/users"], V1, V2, request_up=name_up, response_down=user_down)
app.transformer(_ids["GET", "/users/{user_id:int}"], V1, V2,
                request_up=unchanged, response_down=user_down)
app.transformer(_ids["PATCH", "/users/{user_id:int}"], V1, V2,
                request_up=name_up, response_down=user_down)
app.transformer(_ids["DELETE", "/users/{user_id:int}"], V1, V2,
                request_up=unchanged, response_down=unchanged, lossless=True)
app.transformer(_ids["GET", "/users"], V1, V2, request_up=unchanged, response_down=page_down)

# Out-of-process modules in Go and Node (examples/users/polyglot.py), on request only.
if os.environ.get("USERS_MODULES") == "1":
    from examples.users.polyglot import register

    register(app)
