"""The app the fault suite runs: the users example's table plus an effect that counts.

``POST /orders`` appends one row to ``fault_effects`` per execution (no unique
constraint, on purpose: it is the non-idempotent effect), then creates a user through
the example's own ``UsersDB`` module, so a second execution also shows as the example
shows it (``409 email_taken``). Rows per request id in ``fault_effects`` are how many
times the request's effects ran. Each worker's start leaves a row in ``fault_starts``,
which tells the suite a worker is past its modules' start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from examples.users.db import EmailTaken, UsersDB
from gati import App, GlobalContext, LocalContext, Request, RequestError, Response
from gati.store import create_engine

app = App("faults")
# The example's module first: its create_all is what two workers race on (defect 5).
app.module("db")(UsersDB)

# Any constant; both tables are created under it, so concurrent starts queue up.
_LOCK_KEY = 7_311_011
_DDL = (
    "CREATE TABLE IF NOT EXISTS fault_effects ("
    " id bigserial PRIMARY KEY, request_id text NOT NULL, at timestamptz DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS fault_starts ("
    " pid integer NOT NULL, at timestamptz DEFAULT now())",
)


class Ledger:
    """One row per call of ``append``: a side effect that is not idempotent."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.url: str = config["database_url"]
        self.engine: AsyncEngine | None = None

    async def start(self) -> None:
        self.engine = create_engine(self.url)
        async with self.engine.begin() as conn:
            await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            for statement in _DDL:
                await conn.execute(sa.text(statement))
            await conn.execute(sa.text("INSERT INTO fault_starts (pid) VALUES (:p)"),
                               {"p": os.getpid()})

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()

    async def append(self, request_id: str) -> int:
        assert self.engine is not None, "module not started"
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.text("INSERT INTO fault_effects (request_id) VALUES (:r) RETURNING id"),
                {"r": request_id},
            )
            return int(result.scalar_one())


# No retries: a retried append would be a second execution the suite must not see.
app.module("ledger", retries=0)(Ledger)


@dataclass
class NewOrder:
    name: str
    email: str


@dataclass
class Order:
    id: int
    user_id: int
    request_id: str


@app.post("/orders", request=NewOrder, response=Order)
async def create_order(
    req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
) -> None:
    body: NewOrder = req.body
    entry = await gctx.modules.ledger.append(lctx.meta.request_id)
    try:
        user = await gctx.modules.db.insert_user(body.name, body.email)
    except EmailTaken:
        raise RequestError(f"{body.email} is already registered", code="email_taken",
                           status=409) from None
    res.status(201).json({"id": entry, "user_id": user["id"], "request_id": lctx.meta.request_id})
