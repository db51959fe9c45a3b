"""``schema_versions.py`` after someone edited the deployed 2025-01-01 version in place:
its response lost ``email``, which breaks every client of that version."""

from __future__ import annotations

from dataclasses import dataclass

from gati import App, GlobalContext, LocalContext, Request, Response


@dataclass
class User:
    name: str
    email: str


@dataclass
class UserV2:
    firstName: str
    lastName: str


app = App("users")


@app.get("/user", version="2024-01-01", tags=["v1"], response=User)
async def get_user(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    res.json(User("Ada Lovelace", "ada@example.com"))


@app.get("/user", version="2025-01-01", tags=["v2"], response=UserV2)
async def get_user_v2(req: Request, res: Response, lctx: LocalContext,
                      gctx: GlobalContext) -> None:
    res.json(UserV2("Ada", "Lovelace"))
