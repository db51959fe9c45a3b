"""The example's email module: welcome mails over real SMTP (aiosmtplib).

Configuration (the app's config wins over the environment)::

    config key     environment          default
    smtp_host      USERS_SMTP_HOST      none: mail is off, send_welcome reports it
    smtp_port      USERS_SMTP_PORT      25
    smtp_user      USERS_SMTP_USER      none: no login
    smtp_from      USERS_SMTP_FROM      Users <no-reply@users.example>
    smtp_tls       USERS_SMTP_TLS       auto (STARTTLS when offered), starttls, tls, off

The password is a secret, so it is not configuration: the handler reads
``USERS_SMTP_PASSWORD`` through ``gctx.secrets`` and passes the ``Secret`` to
``send_welcome``. The recorded effect shows it as ``[REDACTED]``, and the value, once
revealed, is masked in every later record of the worker.
"""

from __future__ import annotations

import os
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib

from gati.core.redact import Secret

TLS_MODES = ("auto", "starttls", "tls", "off")


class MailError(Exception):
    """The SMTP server refused the message (not worth retrying)."""


class MailUnavailable(MailError, ConnectionError):
    """The SMTP server could not be reached or timed out; the module policy retries it."""


def _setting(config: dict[str, Any], key: str, env: str) -> str | None:
    value = config.get(key)
    if value is None:
        value = os.environ.get(env)
    return str(value) if value not in (None, "") else None


class Mailer:
    """``gctx.modules.mail``: one instance per worker, shared by all requests."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.host = _setting(config, "smtp_host", "USERS_SMTP_HOST")
        port = _setting(config, "smtp_port", "USERS_SMTP_PORT") or "25"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"USERS_SMTP_PORT must be a TCP port, got {port!r}")
        self.port = int(port)
        self.user = _setting(config, "smtp_user", "USERS_SMTP_USER")
        self.sender = (_setting(config, "smtp_from", "USERS_SMTP_FROM")
                       or "Users <no-reply@users.example>")
        self.tls = (_setting(config, "smtp_tls", "USERS_SMTP_TLS") or "auto").lower()
        if self.tls not in TLS_MODES:
            raise ValueError(f"USERS_SMTP_TLS must be one of {', '.join(TLS_MODES)}")
        self.timeout_s = 5.0

    @property
    def configured(self) -> bool:
        return self.host is not None

    def welcome_message(self, to: str, name: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = f"Welcome, {name}!"
        msg["Message-ID"] = make_msgid(domain="users.example")
        msg.set_content(
            f"Hello {name},\n\nyour account is ready. Sign in with {to}.\n\n-- the Users team\n"
        )
        return msg

    async def send_welcome(
        self, to: str, name: str, *, password: Secret | None = None
    ) -> dict[str, Any]:
        """Send the welcome mail; the result is recorded as the effect's result.

        Raises:
            MailUnavailable: the server is unreachable or too slow (retried by the policy).
            MailError: the server refused the login, the sender or the recipient.
        """
        if self.host is None:
            return {"sent": False, "reason": "smtp not configured"}
        if self.user is not None and password is None:
            raise MailError("USERS_SMTP_USER is set but the secret USERS_SMTP_PASSWORD is not")
        msg = self.welcome_message(to, name)
        login: dict[str, Any] = {}
        if self.user is not None and password is not None:
            login = {"username": self.user, "password": password.reveal()}
        try:
            _refused, reply = await aiosmtplib.send(
                msg, hostname=self.host, port=self.port, timeout=self.timeout_s,
                use_tls=self.tls == "tls",
                start_tls={"auto": None, "starttls": True}.get(self.tls, False),
                **login,
            )
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError,
                aiosmtplib.SMTPServerDisconnected) as exc:
            raise MailUnavailable(f"SMTP {self.host}:{self.port}: {exc}") from None
        except aiosmtplib.SMTPException as exc:
            raise MailError(f"SMTP {self.host}:{self.port} refused the mail: {exc}") from None
        except OSError as exc:  # DNS failures, TLS errors
            raise MailUnavailable(f"SMTP {self.host}:{self.port}: {exc}") from None
        return {"sent": True, "to": to, "message_id": msg["Message-ID"], "reply": reply}
