"""Conversion of validated JSON data into the declared types, and back to JSON data."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Literal, NotRequired, TypedDict

import pytest

from gati.errors import AppError, RequestError
from gati.types import (
    MinLen,
    Secret,
    ValidationFailed,
    compile_converter,
    contract,
    to_builtins,
)


class Role(enum.Enum):
    ADMIN = "admin"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Address:
    street: str
    zip: str


@dataclass
class User:
    id: uuid.UUID
    name: Annotated[str, MinLen(1)]
    role: Role
    born: dt.date
    seen: dt.datetime
    address: Address
    avatar: bytes = b""
    tags: set[str] = field(default_factory=set)
    scores: tuple[float, ...] = ()
    friends: list[Address] = field(default_factory=list)
    level: Literal[Role.ADMIN] | None = None


class Patch(TypedDict):
    name: str
    role: NotRequired[Role]


@dataclass
class Node:
    value: int
    kids: list[Node] = field(default_factory=list)


@dataclass
class Cat:
    meows: bool


@dataclass
class Dog:
    barks: bool


@dataclass
class Pet:
    pet: Cat | Dog
    weight: float | int


@dataclass
class WithPost:
    a: int
    b: int = 0
    total: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.total = self.a + self.b


@dataclass
class KwOnly:
    a: int
    b: int = field(default=1, kw_only=True)


USER = {
    "id": "12345678-1234-1234-1234-123456789abc",
    "name": "Ada",
    "role": "admin",
    "born": "1815-12-10",
    "seen": "2024-05-01T10:00:00+00:00",
    "address": {"street": "1 Way", "zip": "12345"},
    "avatar": "AAE=",
    "tags": ["a", "b", "a"],
    "scores": [1, 2.5],
    "friends": [{"street": "2 Way", "zip": "54321"}],
    "level": "admin",
}


def test_converts_to_the_declared_types() -> None:
    user = compile_converter(User)(USER)
    assert user == User(
        id=uuid.UUID(USER["id"]),  # type: ignore[arg-type]
        name="Ada",
        role=Role.ADMIN,
        born=dt.date(1815, 12, 10),
        seen=dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC),
        address=Address("1 Way", "12345"),
        avatar=b"\x00\x01",
        tags={"a", "b"},
        scores=(1.0, 2.5),
        friends=[Address("2 Way", "54321")],
        level=Role.ADMIN,
    )
    assert type(user.scores[0]) is float


def test_defaults_fill_absent_fields() -> None:
    minimal = {k: v for k, v in USER.items() if k in ("id", "name", "role", "born", "seen",
                                                       "address")}
    user = compile_converter(User)(minimal)
    assert user.avatar == b"" and user.tags == set() and user.friends == [] and user.level is None
    other = compile_converter(User)(minimal)
    assert other.tags is not user.tags  # factories run per instance


def test_typeddict_recursive_union_and_post_init() -> None:
    assert compile_converter(Patch)({"name": "x", "role": "user", "junk": 1}) == {
        "name": "x", "role": Role.USER
    }
    tree = compile_converter(Node)({"value": 1, "kids": [{"value": 2}]})
    assert tree == Node(1, [Node(2)])
    pets = compile_converter(Pet)
    assert pets({"pet": {"barks": True}, "weight": 3}) == Pet(Dog(True), 3)
    assert pets({"pet": {"meows": False}, "weight": 3.5}).pet == Cat(False)
    assert compile_converter(WithPost)({"a": 2, "b": 3}).total == 5
    assert compile_converter(KwOnly)({"a": 2}) == KwOnly(2, b=1)


def test_unsupported_types_are_rejected() -> None:
    with pytest.raises(AppError, match="unsupported type"):
        compile_converter(complex)


def test_to_builtins_is_the_inverse() -> None:
    user = compile_converter(User)(USER)
    data = to_builtins(user)
    assert data["id"] == USER["id"] and data["role"] == "admin" and data["avatar"] == "AAE="
    assert data["seen"] == "2024-05-01T10:00:00+00:00" and data["born"] == "1815-12-10"
    assert sorted(data["tags"]) == ["a", "b"] and data["scores"] == [1.0, 2.5]
    assert compile_converter(User)(data) == user


@dataclass
class Login:
    user: Annotated[str, MinLen(1)]
    password: Annotated[str, Secret, MinLen(8)]


def test_contract_parse_and_dump() -> None:
    c = contract(Login, app="auth", handler="login")
    assert c.parse({"user": "ada", "password": "long enough"}) == Login("ada", "long enough")
    with pytest.raises(ValidationFailed) as info:
        c.parse({"user": "", "password": "short"})
    err = info.value
    assert isinstance(err, RequestError) and err.status == 400 and err.code == "validation_failed"
    assert [i["path"] for i in err.to_json()] == ["$.user", "$.password"]
    assert "short" not in str(err) and "<redacted>" in str(err)
    assert c.dump(Login("ada", "long enough")) == {"user": "ada", "password": "long enough"}
    with pytest.raises(ValidationFailed) as bad:
        c.dump(Login("", "long enough"))
    assert bad.value.status == 500 and bad.value.code == "response_invalid"
    assert c.fingerprint == c.gtype.fingerprint()
    assert c.avro_schema["namespace"] == "gati.app.auth.login"


def test_json_default_writes_what_to_builtins_gives() -> None:
    import datetime as dt_
    import enum as enum_
    import json as json_
    import uuid as uuid_
    from dataclasses import dataclass as dc
    from types import MappingProxyType

    from gati.types.convert import json_default

    class Plain(enum_.Enum):
        A = "a"
        NESTED = ("x", 1)

    class Mixed(str, enum_.Enum):  # noqa: UP042 - the form many codebases still use
        B = "b"

    class Number(enum_.IntEnum):
        ONE = 1

    @dc
    class Inner:
        when: dt_.date
        tags: frozenset[str]

    @dc
    class Outer:
        inner: Inner
        kinds: list[Plain]
        raw: bytes

    class Odd:
        def __str__(self) -> str:
            return "odd!"

    values = [
        {"a": [1, 2.5, True, None, "s"], "t": (1, 2)},
        Outer(Inner(dt_.date(2025, 1, 2), frozenset({"x"})), [Plain.A, Plain.NESTED], b"\x00\xff"),
        {"mixed": Mixed.B, "n": Number.ONE, Mixed.B: 1, 3: "int key"},
        [dt_.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt_.UTC), dt_.time(1, 2), uuid_.UUID(int=7)],
        MappingProxyType({"k": {1, 2}}),
        {"odd": Odd(), "ba": bytearray(b"ab")},
    ]
    for value in values:
        want = json_.dumps(to_builtins(value), separators=(",", ":"), ensure_ascii=False,
                           default=str)
        got = json_.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          default=json_default)
        assert got == want, value
