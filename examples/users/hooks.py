"""The example's hooks: API-key auth (global), timing (route) and an audit line (route).

Hook order for ``POST /users``::

    authenticate (global before) -> timing_start (route before) -> create_user
        -> timing_end (route after) -> audit (route after) -> response

After hooks run in reverse registration order, so a route lists them as
``after=[audit, timing_end]``: ``timing_end`` runs first, right after the handler.
"""

from __future__ import annotations

import hmac

from gati import GlobalContext, LocalContext, Request, RequestError, Response
from gati.core.context import SecretNotFound

API_KEY_SECRET = "USERS_API_KEY"
REALM = 'Bearer realm="users"'
ACTIONS = {"POST": "user.create", "PATCH": "user.update", "DELETE": "user.delete"}


class Unauthorized(RequestError):
    """401 ``unauthorized``; ``challenge`` goes into the ``www-authenticate`` header."""

    def __init__(self, message: str, *, challenge: str = REALM) -> None:
        super().__init__(message, code="unauthorized", status=401)
        self.challenge = challenge


def presented_key(req: Request) -> str | None:
    """The key from ``Authorization: Bearer <key>`` or ``X-Api-Key: <key>``, if any."""
    auth = req.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = req.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


async def authenticate(
    req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
) -> None:
    """Global before hook: every request but GET needs the API key, when one is set.

    Without the secret ``USERS_API_KEY`` auth is off and every caller is "anonymous".
    A GET may come without a key; a key that is presented must be right.
    """
    try:
        secret = gctx.secrets.get(API_KEY_SECRET)
    except SecretNotFound:
        lctx.set("principal", "anonymous")
        return
    presented = presented_key(req)
    if presented is None:
        if req.method == "GET":
            lctx.set("principal", "anonymous")
            return
        raise Unauthorized(
            "this request needs an API key: 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'"
        )
    # compare_digest: the time taken does not tell how much of the key was right.
    if not hmac.compare_digest(presented.encode(), secret.reveal().encode()):
        raise Unauthorized("the API key is not valid",
                           challenge=f'{REALM}, error="invalid_token"')
    lctx.set("principal", "api-key")


async def answer_unauthorized(
    err: Exception, req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
) -> None:
    """Global catch hook: a 401 carries ``www-authenticate``; other errors pass through."""
    if isinstance(err, Unauthorized):
        res.status(401).header("www-authenticate", err.challenge).json({"error": {
            "status": 401, "code": err.code, "message": err.message,
            "request_id": lctx.meta.request_id,
        }})


async def timing_start(
    req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
) -> None:
    """Route before hook: note when the handler starts (a recorded clock read)."""
    lctx.set("timing.start_us", lctx.now_us())


async def timing_end(
    req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
) -> None:
    """Route after hook: ``server-timing: handler;dur=<ms>`` on the response."""
    started: int | None = lctx.get("timing.start_us")
    if started is not None:
        res.header("server-timing", f"handler;dur={(lctx.now_us() - started) / 1000:.3f}")


async def audit(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    """Route after hook of the mutating routes: one ``audit`` log line in the record."""
    user_id = lctx.get("user_id", req.params.get("user_id"))
    lctx.log.info("audit", action=ACTIONS.get(req.method, req.method.lower()),
                  user_id=user_id, principal=lctx.get("principal"), status=res.status_code)
