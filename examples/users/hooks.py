"""The example's hooks: timing (route) and an audit line (route); and its API keys.

Hook order for ``POST /users``::

    (policy: the API key, checked by the gateway) -> timing_start (route before)
        -> create_user -> timing_end (route after) -> audit (route after) -> response

After hooks run in reverse registration order, so a route lists them as
``after=[audit, timing_end]``: ``timing_end`` runs first, right after the handler.

Who may write is a route policy, not a hook: the gateway checks the key against its
digest (so no worker and no record ever sees the key) and the worker refuses a write
without it before any hook runs (401 ``auth_required``, or ``invalid_api_key`` for a
wrong one), which replay decides again from the record.
"""

from __future__ import annotations

from collections.abc import Mapping

from gati import GlobalContext, LocalContext, Request, Response
from gati.policy import ApiKey, PolicyError, hash_api_key

API_KEY_ENV = "USERS_API_KEY"
API_KEY_DIGESTS_ENV = "USERS_API_KEY_SHA256"
# The principal every valid key stands for: the audit line's "principal".
API_KEY_SUBJECT = "api-key"
ACTIONS = {"POST": "user.create", "PATCH": "user.update", "DELETE": "user.delete"}


def api_keys(environ: Mapping[str, str]) -> list[ApiKey]:
    """The valid keys: digests from ``USERS_API_KEY_SHA256`` (comma-separated, so the
    old and the new key are both valid during a rotation), else ``USERS_API_KEY``.

    Raises:
        PolicyError: a digest that is not ``sha256:`` and 64 hex digits.
    """
    digests = [d.strip() for d in environ.get(API_KEY_DIGESTS_ENV, "").split(",") if d.strip()]
    for digest in digests:
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64 or \
                not all(c in "0123456789abcdef" for c in hexdigest):
            raise PolicyError(f"{API_KEY_DIGESTS_ENV}: {digest[:12]!r}... is not "
                              "'sha256:<64 hex digits>' (gati.policy.hash_api_key)")
    key = environ.get(API_KEY_ENV, "").strip()
    if not digests and key:
        digests = [hash_api_key(key)]
    return [ApiKey(d, API_KEY_SUBJECT) for d in digests]


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
    principal = lctx.meta.principal
    lctx.log.info("audit", action=ACTIONS.get(req.method, req.method.lower()),
                  user_id=user_id, principal=principal.subject if principal else "anonymous",
                  status=res.status_code)
