"""Apps shared by unit tests of several packages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gati import App, GlobalContext, LocalContext, Request, Response


@dataclass
class UserV1:
    name: str
    email: str


@dataclass
class UserV2:
    firstName: str
    lastName: str
    email: str


def split(body: dict[str, Any]) -> dict[str, Any]:
    first, _, last = body["name"].partition(" ")
    return {"firstName": first, "lastName": last, "email": body["email"]}


def join(body: dict[str, Any]) -> dict[str, Any]:
    return {"name": f"{body['firstName']} {body['lastName']}".strip(), "email": body["email"]}


def typed_users_app(*, transformers: bool = False) -> App:
    """The seed's scenario: User {name, email} then {firstName, lastName, email}."""
    app = App("users")

    @app.get("/user", version="2024-01-01", tags=["v1"], response=UserV1)
    async def get_v1(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json(UserV1("Ada Lovelace", "ada@example.com"))

    @app.get("/user", version="2025-01-01", tags=["v2"], response=UserV2)
    async def get_v2(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json(UserV2("Ada", "Lovelace", "ada@example.com"))

    if transformers:
        app.transformer(
            next(iter(app.families)),
            "2024-01-01",
            "2025-01-01",
            request_up=split,
            response_down=join,
            lossless=True,
        )
    app.validate()
    return app


def typed_users_app_with_transformers() -> App:
    return typed_users_app(transformers=True)


typed_users_app_with_transformers_app = typed_users_app_with_transformers()
