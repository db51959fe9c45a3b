"""The users example with its hooks and real SMTP, on both backends.

A local aiosmtpd server (with login required) receives the welcome mails; the system
runs with ``USERS_API_KEY`` set, so auth is on. A second system points the mailer at a
closed port to show the failure path: 502, and the user is taken back (compensation).
"""

from __future__ import annotations

import email
import json
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from support import System, eventually, free_port, start_system

from gati.cli.loader import load_app
from gati.replay import Replayer
from gati.store import Store, open_store

pytestmark = [
    pytest.mark.timeout(240),
    # aiosmtpd warns that AUTH without TLS is unsafe: this server only listens on loopback.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

API_KEY = f"key-{uuid.uuid4().hex}"
SMTP_USER = "mailer"
SMTP_PASSWORD = f"pw-{uuid.uuid4().hex}"
KEY = {"authorization": f"Bearer {API_KEY}"}
# By file, so every load_app runs it afresh: it reads USERS_API_KEY as the worker did.
USERS_APP = "examples/users/app.py:app"


@pytest.fixture(scope="module", autouse=True)
def users_api_key() -> Iterator[None]:
    """The key in this process too, while this module's systems run and are replayed.

    Whether a write needs a key is the app's configuration (read at import), so a
    replay decides as the worker did only with the same configuration.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("USERS_API_KEY", API_KEY)
        yield


@dataclass
class Inbox:
    """aiosmtpd handler: keeps every message it accepts."""

    port: int = 0
    messages: list[tuple[list[str], Any, EmailMessage]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        msg = email.message_from_bytes(content, policy=default_policy)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), session.auth_data, msg))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[tuple[Any, EmailMessage]]:
        with self.lock:
            return [(login, m) for rcpt, login, m in self.messages if address in rcpt]


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = (isinstance(data, LoginPassword) and data.login == SMTP_USER.encode()
          and data.password == SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    handler = Inbox(port=free_port())
    controller = Controller(
        handler, hostname="127.0.0.1", port=handler.port, authenticator=_authenticator,
        auth_required=True, auth_require_tls=False,
    )
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, inbox: Inbox
) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(f"hooks-{request.param}")
    s = start_system(
        request.param, tmp, request, app=USERS_APP, USERS_API_KEY=API_KEY,
        USERS_SMTP_HOST="127.0.0.1",
        USERS_SMTP_PORT=str(inbox.port), USERS_SMTP_USER=SMTP_USER,
        USERS_SMTP_PASSWORD=SMTP_PASSWORD,
    )
    yield s
    s.stop()


@pytest.fixture
async def store(system: System) -> AsyncIterator[Store]:
    s = await open_store(system.database_url)
    yield s
    await s.close()


def _email() -> str:
    return f"u{uuid.uuid4().hex[:10]}@example.com"


Row = tuple[str, dict[str, Any], Any]


async def _timeline(store: Store, request_id: str) -> list[Row]:
    """(stage, detail, row) of each lifecycle row once ``responded`` is recorded."""

    async def done() -> list[Row]:
        events = await store.lifecycle(request_id)
        if not events or events[-1].stage != "responded":
            return []
        return [(e.stage, json.loads(e.detail) if e.detail else {}, e) for e in events]

    rows: list[Row] = await eventually(done, within=30, what=f"{request_id} recorded")
    return rows


def _step(stage: str, d: dict[str, Any]) -> str:
    """A row as one readable word: which hook, which effect, which log line."""
    if stage.startswith("hook_"):
        return f"{stage}:{str(d['hook']).rsplit('.', 1)[-1]}"
    if stage == "effect":
        if d["kind"] == "module":
            return f"effect:{d['module']}.{d['method']}"
        return f"effect:secret {d['name']}" if d["kind"] == "secret" else f"effect:{d['kind']}"
    if stage == "calling":  # a journaled module call, written down before it is made
        return f"calling:{d['module']}.{d['method']}"
    if stage == "log":
        return f"log:{d['message']}"
    return stage


async def test_post_without_a_valid_key_is_401_and_recorded(
    system: System, store: Store
) -> None:
    address = _email()
    async with system.client() as client:
        missing = await client.post("/users", json={"name": "Eve", "email": address})
        wrong = await client.post("/users", json={"name": "Eve", "email": address},
                                  headers={"x-api-key": "not-the-key"})
        listed = await client.get("/users", params={"limit": 500})  # GET needs no key
    assert missing.status_code == 401, missing.text
    error = missing.json()["error"]
    # The route policy's refusal (auth="required"), no longer a hook's "unauthorized".
    assert error["code"] == "auth_required" and error["status"] == 401
    assert error["request_id"] == missing.headers["x-request-id"]
    assert "Bearer" in error["message"]
    assert missing.headers["www-authenticate"] == 'Bearer realm="users"'
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert wrong.headers["www-authenticate"] == (
        'Bearer realm="users", error="invalid_token", error_description="invalid_api_key"')
    assert listed.status_code == 200
    assert address not in {u["email"] for u in listed.json()["users"]}

    timeline = await _timeline(store, missing.headers["x-request-id"])
    # Refused by the policy before any hook runs; nothing was presented, so no
    # "authenticated" step.
    assert [_step(s, d) for s, d, _ in timeline] == [
        "received", "routed", "failed", "responded"]
    failed = timeline[2][2]
    assert (failed.status, failed.error_code) == (401, "auth_required")
    assert timeline[-1][2].status == 401
    refused = await _timeline(store, wrong.headers["x-request-id"])
    assert [_step(s, d) for s, d, _ in refused][:2] == ["received", "authenticated"]
    assert refused[1][1]["error"] == "invalid_api_key"
    row = await store.get_request(missing.headers["x-request-id"])
    assert row is not None and row["status"] == 401


async def test_post_with_the_key_creates_mails_times_and_audits(
    system: System, store: Store, inbox: Inbox
) -> None:
    address = _email()
    async with system.client() as client:
        created = await client.post("/users", json={"name": "Grace Hopper", "email": address},
                                    headers=KEY)
    assert created.status_code == 201, created.text
    user = created.json()
    assert re.fullmatch(r"handler;dur=\d+\.\d{3}", created.headers["server-timing"])

    async def arrived() -> list[tuple[Any, EmailMessage]]:
        return inbox.to(address)

    delivered = await eventually(arrived, within=15, what=f"the welcome mail to {address}")
    assert len(delivered) == 1
    login, msg = delivered[0]
    assert login == SMTP_USER.encode()  # the worker logged in with the secret password
    assert msg["To"] == address and "Grace Hopper" in msg["Subject"]
    body = msg.get_body(("plain",))
    assert body is not None and "Grace Hopper" in body.get_content()

    timeline = await _timeline(store, created.headers["x-request-id"])
    assert [_step(s, d) for s, d, _ in timeline] == [
        "received", "authenticated", "routed",
        "hook_start:timing_start", "effect:clock", "hook_end:timing_start",
        "handler_start",
        "calling:db.insert_user", "effect:db.insert_user", "effect:secret USERS_SMTP_PASSWORD",
        "calling:mail.send_welcome", "effect:mail.send_welcome",
        "handler_end",
        "hook_start:timing_end", "effect:clock", "hook_end:timing_end",
        "hook_start:audit", "log:audit", "hook_end:audit",
        "responded",
    ]
    details = {_step(s, d): d for s, d, _ in timeline}
    # The gateway's principal, recorded; the key itself is not (checked below).
    assert details["authenticated"] == {"principal": {
        "subject": "api-key", "method": "api_key", "roles": [], "scopes": [], "tenant": None}}
    assert details["hook_end:timing_start"]["level"] == "route"
    assert details["effect:db.insert_user"]["result"] == user
    mail = details["effect:mail.send_welcome"]
    assert mail["args"] == [address, "Grace Hopper"]
    assert mail["kwargs"] == {"password": "[REDACTED]"}
    assert mail["result"]["sent"] is True and mail["result"]["to"] == address
    assert mail["result"]["message_id"] == msg["Message-ID"]

    # Replaying the request sends no second mail: the mail module is served from the record.
    before = len(inbox.messages)
    replayed = await Replayer(app=load_app(system.app), engine=store.engine).replay(
        created.headers["x-request-id"])
    assert replayed.identical, replayed.divergence
    assert len(inbox.messages) == before
    assert details["log:audit"] == {
        "level": "info", "message": "audit", "action": "user.create", "user_id": user["id"],
        "principal": "api-key", "status": 201,
    }
    assert timeline[-1][2].status == 201
    await _assert_secrets_not_in_lifecycle(store)


async def test_x_api_key_works_and_delete_is_audited(system: System, store: Store) -> None:
    async with system.client() as client:
        created = await client.post("/users", json={"name": "Ken", "email": _email()},
                                    headers={"x-api-key": API_KEY})
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]
        assert (await client.delete(f"/users/{user_id}")).status_code == 401
        deleted = await client.delete(f"/users/{user_id}", headers=KEY)
    assert deleted.status_code == 204
    assert "server-timing" in deleted.headers
    timeline = await _timeline(store, deleted.headers["x-request-id"])
    audits = [d for s, d, _ in timeline if s == "log"]
    assert audits == [{"level": "info", "message": "audit", "action": "user.delete",
                       "user_id": user_id, "principal": "api-key", "status": 204}]


async def _assert_secrets_not_in_lifecycle(store: Store) -> None:
    async with store.engine.connect() as conn:
        details = (await conn.execute(sa.text("SELECT detail FROM lifecycle_events"))).scalars()
        texts = [t for t in details if t]
    assert texts, "no lifecycle details recorded"
    assert not [t for t in texts if API_KEY in t], "the API key is in lifecycle_events"
    assert not [t for t in texts if SMTP_PASSWORD in t], "the SMTP password is recorded"


# --- the mailer cannot reach its server -------------------------------------------------


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def broken(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    tmp: Path = tmp_path_factory.mktemp(f"nomail-{request.param}")
    closed = free_port()  # bound once and released: nothing listens there
    s = start_system(request.param, tmp, request, app=USERS_APP, USERS_API_KEY=API_KEY,
                     USERS_SMTP_HOST="127.0.0.1", USERS_SMTP_PORT=str(closed))
    yield s
    s.stop()


async def test_mail_failure_answers_502_and_takes_the_user_back(broken: System) -> None:
    address = _email()
    async with broken.client() as client:
        failed = await client.post("/users", json={"name": "Lin", "email": address},
                                   headers=KEY)
        # The compensation deleted the user: trying again is not "email taken".
        again = await client.post("/users", json={"name": "Lin", "email": address},
                                  headers=KEY)
        listed = await client.get("/users", params={"limit": 500})
    assert failed.status_code == 502, failed.text
    error = failed.json()["error"]
    assert error["code"] == "mail_failed" and "not created" in error["message"]
    assert "server-timing" not in failed.headers  # after hooks do not run on failure
    assert again.status_code == 502 and again.json()["error"]["code"] == "mail_failed"
    assert address not in {u["email"] for u in listed.json()["users"]}

    store = await open_store(broken.database_url)
    try:
        timeline = await _timeline(store, failed.headers["x-request-id"])
    finally:
        await store.close()
    steps = [_step(s, d) for s, d, _ in timeline]
    assert steps[steps.index("handler_start"):] == [
        "handler_start",
        "calling:db.insert_user", "effect:db.insert_user", "effect:secret USERS_SMTP_PASSWORD",
        "calling:mail.send_welcome", "effect:mail.send_welcome",
        "handler_end",
        "snapshot",
        "failed",
        "calling:db.delete_user", "effect:db.delete_user", "compensation",
        "responded",
    ]
    rows = {_step(s, d): (d, row) for s, d, row in timeline}
    user = rows["effect:db.insert_user"][0]["result"]
    mail, mail_row = rows["effect:mail.send_welcome"]
    assert mail_row.error_code == "module_error"
    assert mail["error"]["type"] == "MailUnavailable" and mail["attempts"] == 3  # 2 retries
    assert "result" not in mail
    assert rows["failed"][1].status == 502 and rows["failed"][1].error_code == "mail_failed"
    assert rows["effect:db.delete_user"][0]["args"] == [user["id"]]
    assert rows["effect:db.delete_user"][0]["result"] is True
    assert rows["compensation"][0] == {"name": "delete_user", "ok": True}
    assert "log:audit" not in steps
    assert timeline[-1][2].status == 502
