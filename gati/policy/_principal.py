"""Who a request comes from, as the gateway established it.

The principal travels in the request envelope and is recorded; the credential it was
established from never is. So every later decision about it (a role check, a rate-limit
key) is made again, identically, when the request is replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: ``method`` is ``jwt`` or ``api_key``."""

    subject: str
    method: str
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    tenant: str | None = None

    def to_detail(self) -> dict[str, Any]:
        return {"subject": self.subject, "method": self.method, "roles": list(self.roles),
                "scopes": list(self.scopes), "tenant": self.tenant}

    @classmethod
    def from_detail(cls, detail: dict[str, Any]) -> Principal:
        return cls(str(detail["subject"]), str(detail["method"]),
                   tuple(detail.get("roles") or ()), tuple(detail.get("scopes") or ()),
                   detail.get("tenant"))


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    """What the gateway made of the credentials a request presented.

    Either a ``principal``, or ``error`` (a stable code: ``invalid_token``,
    ``token_expired``, ``invalid_audience``, ``invalid_issuer``, ``unknown_key``,
    ``invalid_api_key``) with a ``message`` that never quotes the credential. A request
    that presented none has no outcome at all (``None`` in the envelope).
    """

    principal: Principal | None = None
    error: str | None = None
    message: str | None = None

    def to_detail(self) -> dict[str, Any]:
        if self.principal is not None:
            return {"principal": self.principal.to_detail()}
        return {"error": self.error, "message": self.message}

    @classmethod
    def from_detail(cls, detail: dict[str, Any]) -> AuthOutcome:
        principal = detail.get("principal")
        if principal is not None:
            return cls(Principal.from_detail(principal))
        return cls(None, detail.get("error"), detail.get("message"))
