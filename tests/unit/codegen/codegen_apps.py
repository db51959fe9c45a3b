"""Apps for the generators: every kind of type, and two versions of one handler."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict

from gati import App, GlobalContext, LocalContext, Request, RequestError, Response
from gati.types import Format, Max, MaxLen, Min, MinLen, Pattern


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


Keywords = TypedDict("Keywords", {"from": str, "class": int, "async": bool})


@dataclass
class Point:
    x: float
    y: float


@dataclass
class Circle:
    center: Point
    radius: Annotated[float, Min(0)]


@dataclass
class Square:
    corner: Point
    side: Annotated[float, Min(0)]


@dataclass
class Tree:
    """A recursive type."""

    label: str
    children: list[Tree] = field(default_factory=list)


@dataclass
class Everything:
    """One of each kind."""

    name: Annotated[str, MinLen(1), MaxLen(20), Pattern(r"^[a-z]+$")]
    count: Annotated[int, Min(0), Max(10)]
    ratio: float
    flag: bool
    color: Color
    level: Level
    mode: Literal["a", "b", 3, True]
    shape: Circle | Square
    scalar: int | str
    when: dt.datetime
    day: dt.date
    blob: bytes
    email: Annotated[str, Format("email")]
    tags: list[str]
    scores: dict[str, float]
    nested: list[dict[str, list[Point]]]
    tree: Tree
    words: Keywords
    anything: Any
    maybe: Point | None
    optional_note: str | None = None
    optional_count: int = 3


app = App("kinds")


@app.post("/things/{thing_id}/parts/{part:int}", request=Everything, response=Everything)
async def put_thing(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    """Store one of everything."""
    if req.query_one("fail") == "1":
        raise RequestError("asked to fail", code="failed_on_purpose", status=422)
    res.status(201).json(req.body)


@app.get("/things", response=list[Tree])
async def list_things(req: Request, res: Response, lctx: LocalContext,
                      gctx: GlobalContext) -> None:
    res.json([])


@app.delete("/things/{thing_id}")
async def delete_thing(req: Request, res: Response, lctx: LocalContext,
                       gctx: GlobalContext) -> None:
    res.empty()


@app.get("/raw")
async def raw(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    res.text("hello")


@app.get("/maybe", response=Point)
async def maybe(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    if req.query_one("none"):
        res.empty(204)
        return
    res.json(Point(1, 2))


def versions_app() -> App:
    """``User`` changes shape between versions: two components of one name."""
    vapp = App("versions")

    @dataclass
    class User:
        name: str

    @vapp.get("/user", version="2024-01-01", tags=["v1"], response=User)
    async def get_user(req: Request, res: Response, lctx: LocalContext,
                       gctx: GlobalContext) -> None:
        res.json({"name": "Ada Lovelace"})

    user_v1 = User

    @dataclass  # type: ignore[no-redef]
    class User:
        first: str
        last: str

    @vapp.get("/user", version="2025-01-01", tags=["v2"], response=User)
    async def get_user_v2(req: Request, res: Response, lctx: LocalContext,
                          gctx: GlobalContext) -> None:
        res.json({"first": "Ada", "last": "Lovelace"})

    @vapp.get("/both", response=dict[str, user_v1])  # type: ignore[valid-type]
    async def both(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json({})

    return vapp
