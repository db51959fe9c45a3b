"""A realistic recorded history, written through ``Store.record`` like the recorder does.

Ten requests to the users example, ten minutes apart from ``base`` (put it on an hour so
that six fall in its hour and four in the next):

| i | request                          | version    | outcome                           |
| - | -------------------------------- | ---------- | --------------------------------- |
| 0 | POST /users (Ada)                | 2025-01-01 | 201; hooks, effects, log, snapshot |
| 1 | POST /users (Grace)              | 2025-06-01 | 201                               |
| 2 | POST /users (Ada again)          | 2025-06-01 | 409 email_taken (db error)        |
| 3 | GET /users/1                     | initial    | 200                               |
| 4 | GET /users/7                     | initial    | 500 internal_error (db KeyError)  |
| 5 | POST /users without a key        | 2025-06-01 | 401 unauthorized (hook error)     |
| 6 | POST /users (Linus), retries     | 2025-06-01 | 201; auth retried, mail 3 attempts |
| 7 | GET /nope                        | -          | 404 not_found                     |
| 8 | POST /users, never answered      | 2025-01-01 | no status (the worker died)       |
| 9 | POST /users (Grace again)        | 2025-06-01 | 409 email_taken (db error)        |

Step times are given in milliseconds after the gateway received the request; hook and
effect durations agree with them, so every number a test expects can be read here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from examples.users.app import app as users_app
from gati.core.envelopes import LifecycleEvent, RequestEnvelope
from gati.core.ids import RequestIdGenerator
from gati.store import Store
from gati.store.schemas import SchemaStore

USERS_CREATE = "examples.users.app.create_user"

CREATE = "users.create_user"
GET = "users.get_user"
V1 = "2025-01-01"
V2 = "2025-06-01"
GATEWAY = "gw-1"
ADA = {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"}
GRACE = {"id": 2, "name": "Grace Hopper", "email": "grace@example.com"}
LINUS = {"id": 3, "name": "Linus Torvalds", "email": "linus@example.com"}
SPACING = timedelta(minutes=10)


def _us(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000 + t.microsecond


class _Clock:
    def __init__(self, us: int) -> None:
        self.us = us

    def now_us(self) -> int:
        return self.us


@dataclass
class Req:
    """One request being written: its envelope and its steps."""

    request_id: str
    received_us: int
    method: str
    path: str
    body: bytes = b""
    handler_id: str | None = None
    events: list[LifecycleEvent] = field(default_factory=list)

    def step(
        self, ms: float, stage: str, detail: Any = None, *, status: int | None = None,
        error_code: str | None = None,
    ) -> None:
        self.events.append(LifecycleEvent(
            request_id=self.request_id, seq=len(self.events), stage=stage,
            at_us=self.received_us + round(ms * 1000),
            handler_id=self.handler_id if stage != "received" else None,
            status=status, error_code=error_code,
            detail=None if detail is None else json.dumps(detail, separators=(",", ":")),
            worker_id="wk-1",
        ))

    def received(self) -> None:
        self.step(0.5, "received", {"method": self.method, "path": self.path,
                                    "gateway": GATEWAY})

    def routed(self, handler_id: str, pattern: str, version: str,
               params: dict[str, str] | None = None) -> None:
        self.handler_id = handler_id
        self.step(0.8, "routed", {"pattern": pattern, "params": params or {},
                                  "version": version})

    def hook(self, name: str, level: str, kind: str, start: float, ms: float,
             attempt: int = 1) -> None:
        base = {"hook": name, "level": level, "kind": kind, "attempt": attempt}
        self.step(start, "hook_start", base)
        self.step(start + ms, "hook_end", {**base, "duration_ms": ms})

    def call(self, end: float, module: str, method: str, args: list[Any], ms: float, *,
             result: Any = None, error: dict[str, str] | None = None,
             attempts: int = 1) -> None:
        detail: dict[str, Any] = {"kind": "module", "module": module, "method": method,
                                  "args": args, "kwargs": {}, "duration_ms": ms,
                                  "attempts": attempts}
        if error is None:
            detail["result"] = result
        else:
            detail["error"] = error
        self.step(end, "effect", detail, error_code=None if error is None else "module_error")

    def envelope(self, headers: tuple[tuple[str, str], ...] = ()) -> RequestEnvelope:
        return RequestEnvelope(
            request_id=self.request_id, gateway_id=GATEWAY,
            reply_topic=f"gati.replies.{GATEWAY}", reply_partition=0,
            received_at_us=self.received_us, deadline_at_us=self.received_us + 30_000_000,
            method=self.method, path=self.path, query="",
            headers=(("content-type", "application/json"), *headers), body=self.body,
            client="10.0.0.7",
        )


@dataclass(frozen=True)
class Seeded:
    base: datetime
    ids: tuple[str, ...]
    body_schema: int = 0  # the schema id the POST bodies travelled in

    def at(self, i: int, ms: float = 0.0) -> datetime:
        return self.base + i * SPACING + timedelta(milliseconds=ms)


def _created(r: Req, version: str, user: dict[str, Any], *, auth_ms: float,
             timing_ms: float, handler_ms: float, insert_ms: float, end_ms: float,
             audit_ms: float, mail_ms: float = 2.8, mail_attempts: int = 1,
             auth_retry: bool = False) -> None:
    """A successful POST /users: auth, timing, insert, mail, after hooks, 201."""
    r.received()
    r.routed(CREATE, "/users", version)
    if auth_retry:
        base = {"hook": "authenticate", "level": "global", "kind": "before"}
        r.step(1.0, "hook_start", {**base, "attempt": 1})
        r.step(6.0, "hook_error", {**base, "attempt": 1, "retry": True,
                                   "error": {"type": "HookTimeout",
                                             "message": "hook authenticate did not finish in "
                                                        "0.005s", "at": None}},
               status=504, error_code="hook_timeout")
        r.hook("authenticate", "global", "before", 6.2, auth_ms, attempt=2)
        t = 6.2 + auth_ms
    else:
        r.hook("authenticate", "global", "before", 1.0, auth_ms)
        t = 1.0 + auth_ms
    r.hook("timing_start", "route", "before", t + 0.1, timing_ms)
    start = t + 0.1 + timing_ms + 0.2
    r.step(start, "handler_start")
    r.step(start + 0.1, "effect", {"kind": "clock", "value": r.received_us + 3100})
    insert_end = start + 0.1 + insert_ms
    r.call(insert_end, "db", "insert_user", [user["name"], user["email"]], insert_ms,
           result=user)
    r.call(insert_end + mail_ms, "mail", "send_welcome", [user["email"]], mail_ms,
           attempts=mail_attempts)
    end = start + handler_ms
    if version == V1:
        r.step(end - 0.8, "log", {"level": "info", "message": "user created",
                                  "user_id": user["id"]})
        r.step(end - 0.7, "snapshot", {"state": {"user_id": user["id"]}, "tasks": [],
                                       "hook_index": 2, "handler_version": version,
                                       "label": "after_insert"})
    r.step(end, "handler_end", status=201)
    r.hook("timing_end", "route", "after", end + 0.1, end_ms)
    audit_start = end + 0.1 + end_ms + 0.1
    r.hook("audit", "route", "after", audit_start, audit_ms)
    r.step(audit_start + audit_ms + 0.2, "responded", status=201)


def _taken(r: Req, user: dict[str, Any], *, handler_ms: float) -> None:
    """POST /users for an email already registered: the db refuses, 409."""
    r.received()
    r.routed(CREATE, "/users", V2)
    r.hook("authenticate", "global", "before", 1.0, 1.1)
    r.hook("timing_start", "route", "before", 2.2, 0.2)
    r.step(2.6, "handler_start")
    r.step(2.7, "effect", {"kind": "clock", "value": r.received_us + 2700})
    r.call(4.6, "db", "insert_user", [user["name"], user["email"]], 1.9,
           error={"type": "EmailTaken", "message": user["email"]})
    r.step(2.6 + handler_ms, "handler_end", status=409, error_code="email_taken")
    message = f"{user['email']} is already registered"
    r.step(2.6 + handler_ms + 0.1, "failed", {"type": "RequestError", "message": message,
                                             "at": "examples/users/app.py:71"},
           status=409, error_code="email_taken")
    r.hook("answer_unauthorized", "global", "catch", 2.6 + handler_ms + 0.2, 0.1)
    r.step(2.6 + handler_ms + 0.5, "responded", status=409, error_code="email_taken")


def build(base: datetime) -> tuple[list[Req], Seeded]:
    reqs: list[Req] = []
    for i in range(10):
        t = base + i * SPACING
        rid = RequestIdGenerator(_Clock(_us(t)), random_bytes=lambda n: bytes(range(n))).new()
        reqs.append(Req(rid, _us(t), "GET", "/"))
    r0, r1, r2, r3, r4, r5, r6, r7, r8, r9 = reqs

    r0.method, r0.path = "POST", "/users"
    r0.body = b'{"name": "Ada Lovelace", "email": "ada@example.com"}'
    _created(r0, V1, ADA, auth_ms=1.2, timing_ms=0.2, handler_ms=7.0, insert_ms=2.9,
             end_ms=0.3, audit_ms=0.5)

    r1.method, r1.path = "POST", "/users"
    r1.body = b'{"name": "Grace Hopper", "email": "grace@example.com"}'
    _created(r1, V2, GRACE, auth_ms=1.0, timing_ms=0.3, handler_ms=5.0, insert_ms=2.0,
             end_ms=0.4, audit_ms=0.6)

    r2.method, r2.path = "POST", "/users"
    r2.body = b'{"name": "Ada Lovelace", "email": "ada@example.com"}'
    _taken(r2, ADA, handler_ms=3.0)

    r3.path = "/users/1"
    r3.received()
    r3.routed(GET, "/users/{user_id}", "initial", {"user_id": "1"})
    r3.hook("authenticate", "global", "before", 1.0, 0.4)
    r3.step(1.6, "handler_start")
    r3.call(2.6, "db", "get_user", [1], 1.0, result=ADA)
    r3.step(3.6, "handler_end", status=200)
    r3.step(3.8, "responded", status=200)

    r4.path = "/users/7"
    r4.received()
    r4.routed(GET, "/users/{user_id}", "initial", {"user_id": "7"})
    r4.hook("authenticate", "global", "before", 1.0, 0.5)
    r4.step(1.7, "handler_start")
    r4.call(3.0, "db", "get_user", [7], 1.3, error={"type": "KeyError", "message": "7"})
    r4.step(5.7, "handler_end", status=500, error_code="internal_error")
    r4.step(5.8, "failed", {"type": "KeyError", "message": "7",
                            "at": "examples/users/db.py:40"},
            status=500, error_code="internal_error")
    r4.hook("answer_unauthorized", "global", "catch", 5.9, 0.1)
    r4.step(6.2, "responded", status=500, error_code="internal_error")

    r5.method, r5.path = "POST", "/users"
    r5.received()
    r5.routed(CREATE, "/users", V2)
    base5 = {"hook": "authenticate", "level": "global", "kind": "before"}
    r5.step(1.0, "hook_start", {**base5, "attempt": 1})
    r5.step(1.3, "hook_error", {**base5, "attempt": 1, "retry": False,
                                "error": {"type": "Unauthorized",
                                          "message": "an API key is required",
                                          "at": "examples/users/hooks.py:52"}},
            status=401, error_code="unauthorized")
    r5.step(1.4, "failed", {"type": "Unauthorized", "message": "an API key is required",
                            "at": "examples/users/hooks.py:52"},
            status=401, error_code="unauthorized")
    r5.hook("answer_unauthorized", "global", "catch", 1.5, 0.2)
    r5.step(1.9, "responded", status=401, error_code="unauthorized")

    r6.method, r6.path = "POST", "/users"
    r6.body = b'{"name": "Linus Torvalds", "email": "linus@example.com"}'
    _created(r6, V2, LINUS, auth_ms=0.8, timing_ms=0.3, handler_ms=35.0, insert_ms=2.5,
             end_ms=0.3, audit_ms=0.7, mail_ms=30.0, mail_attempts=3, auth_retry=True)

    r7.path = "/nope"
    r7.received()
    r7.step(0.7, "failed", {"message": "no route for GET /nope"}, status=404,
            error_code="not_found")
    r7.step(0.9, "responded", status=404, error_code="not_found")

    r8.method, r8.path = "POST", "/users"
    r8.body = b'{"name": "Alan Turing", "email": "alan@example.com"}'
    r8.received()
    r8.routed(CREATE, "/users", V1)
    r8.step(1.0, "hook_start", {"hook": "authenticate", "level": "global", "kind": "before",
                                "attempt": 1})

    r9.method, r9.path = "POST", "/users"
    r9.body = b'{"name": "Grace Hopper", "email": "grace@example.com"}'
    _taken(r9, GRACE, handler_ms=2.4)

    return reqs, Seeded(base, tuple(r.request_id for r in reqs))


async def seed(store: Store, base: datetime) -> Seeded:
    """Record the ten requests (envelopes and events in separate batches, as they come).

    The POST bodies travelled as Avro in v1's request schema (``schemas`` row added like
    a gateway does at start), so ``requests.body_schema`` is set for them.
    """
    reqs, seeded = build(base)
    secret = (("authorization", "[redacted]"),)
    v1 = users_app.families[USERS_CREATE].versions[0].target.request_contract
    assert v1 is not None
    schema_id = await SchemaStore(store.engine).ensure(v1.codec.schema, v1.codec.spec())
    typed = {r.request_id: schema_id for r in reqs if r.body}
    await store.record([r.envelope(secret if r.method == "POST" else ()) for r in reqs], [],
                       body_schemas=typed)
    await store.record([], [e for r in reqs for e in r.events])
    return replace(seeded, body_schema=schema_id)
