"""Apps whose manifests the tests read: one rich and correct, one deliberately broken."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from gati import App, GlobalContext, LocalContext, Request, RequestError, Response, hook
from gati.types import Format, MaxLen, Min, MinLen


class Role(enum.Enum):
    ADMIN = "admin"
    USER = "user"


@dataclass
class Address:
    street: str
    zip: Annotated[str, MinLen(4), MaxLen(10)]


@dataclass
class Account:
    """An account."""

    name: Annotated[str, MinLen(1)]
    email: Annotated[str, Format("email")]
    role: Role = Role.USER
    address: Address | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class AccountV2:
    first: str
    last: str
    kind: Literal["person", "company"]
    score: Annotated[float, Min(0)]
    attrs: dict[str, int]


class Store:
    """A module with typed methods and declared capabilities."""

    __gati_capabilities__ = ("accounts.read", "accounts.write")
    __gati_egress__ = ("db.internal:5432",)

    def __init__(self, config: dict[str, Any]) -> None:
        self.rows: dict[int, dict[str, Any]] = {}

    async def start(self) -> None:
        """Lifecycle: not part of the module's API."""

    async def put(self, account_id: int, data: dict[str, Any], *, upsert: bool = False) -> bool:
        self.rows[account_id] = data
        return True

    async def fetch(self, account_id: int) -> dict[str, Any] | None:
        return self.rows.get(account_id)

    def count(self) -> int:
        return len(self.rows)

    async def forget(self, account_id, /):  # type: ignore[no-untyped-def]
        self.rows.pop(account_id, None)

    def _private(self) -> None:
        pass


class Audit:
    async def record(self, event: str, **fields: Any) -> None:
        del event, fields


def make_audit(config: dict[str, Any]) -> Audit:
    return Audit()


def make_opaque(config: dict[str, Any]):  # type: ignore[no-untyped-def]
    return object()


class NotFound(RequestError):
    def __init__(self, what: str) -> None:
        super().__init__(f"no {what}", code="account_not_found", status=404)


def _check_id(account_id: int) -> int:
    if account_id < 1:
        raise RequestError("ids start at 1", code="bad_id", status=422)
    return account_id


async def _note(g: GlobalContext, what: str, out: Response) -> None:
    """A helper handed gctx and res: its module calls and statuses count too."""
    await g.modules.audit.record(what)
    out.status(308)


def build() -> App:
    app = App("accounts")
    app.module("store", timeout_s=2.0, retries=1)(Store)
    app.module("audit")(make_audit)
    app.module("opaque")(make_opaque)

    @app.before(timeout_s=0.5, retries=2)
    async def trace(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        await gctx.modules.audit.record("request", path=req.path)

    async def guard(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        if "x-deny" in req.headers:
            raise RequestError("denied", code="forbidden", status=403)

    @app.post("/accounts/{account_id:int}", request=Account, response=Account,
              before=[hook(guard, timeout_s=1.0)], timeout_s=3.0,
              version="2024-01-01", tags=["v1"])
    async def put_account(req: Request, res: Response, lctx: LocalContext,
                          g: GlobalContext) -> None:
        """Create or replace an account.

        More text that is not the summary.
        """
        account_id = _check_id(int(req.params["account_id"]))
        store = g.modules.store
        await store.put(account_id, {"name": req.body.name}, upsert=True)
        lctx.compensate(g.modules.store.forget, account_id, name="forget")
        if req.query_one("dry") == "1":
            res.empty()
            return
        res.status(201).json(req.body)

    @app.post("/accounts/{account_id:int}", request=AccountV2, response=AccountV2,
              version="2025-06-01", tags=["v2", "stable"])
    async def put_account_v2(req: Request, res: Response, lctx: LocalContext,
                             gctx: GlobalContext) -> None:
        mods = gctx.modules
        await mods.store.put(int(req.params["account_id"]), {})
        res.status(201).json(req.body)

    @app.get("/accounts/{account_id:int}")
    async def get_account(req: Request, res: Response, lctx: LocalContext,
                          gctx: GlobalContext) -> None:
        row = await gctx.modules.get("store").fetch(req.params["account_id"])
        if row is None:
            raise NotFound("account")
        if "fields" in req.query:
            res.json({k: row[k] for k in req.query["fields"][0].split(",")})
            return
        res.json(row)

    @app.get("/old/{name}")
    async def old(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        await _note(gctx, "old", out=res)
        res.redirect(f"/accounts/{req.params['name']}", status=308)

    class Counter:
        async def __call__(self, req: Request, res: Response, lctx: LocalContext,
                           gctx: GlobalContext) -> None:
            res.json({"count": gctx.modules.store.count()})

    app.get("/count", handler_id="accounts.count")(Counter())
    app.validate()
    return app


def broken() -> App:
    """Handlers that disagree with their modules in every way the check knows."""
    app = App("broken")
    app.module("store")(Store)
    app.module("opaque")(make_opaque)

    @app.get("/a/{account_id:int}")
    async def wrong_calls(req: Request, res: Response, lctx: LocalContext,
                          gctx: GlobalContext) -> None:
        await gctx.modules.store.fetch()  # missing account_id
        await gctx.modules.store.fetch(1, 2)  # one too many
        await gctx.modules.store.put(1, {}, overwrite=True)  # unknown keyword
        await gctx.modules.store.forget(account_id=1)  # positional-only
        await gctx.modules.store.remove(1)  # no such method
        await gctx.modules.cache.get_item("k")  # no such module
        await gctx.modules.opaque.anything()  # unverifiable
        res.json({})

    return app


app = build()
broken_app = broken()
