"""Sealing sensitive request values before they reach the log.

Authorization and Cookie headers, credential-like query parameters (``DEFAULT_QUERY``:
a ``?access_token=`` is as secret as the same token in a header) and any configured
header, query parameter or JSON body field are encrypted by the gateway with AES-256-GCM
under ``GATI_SEAL_KEY``, bound to the request id, so Kafka holds only ciphertext. The
worker unseals them for the handler; the recorder stores a mask; replay sees the mask.
Secrets are never needed to replay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, unquote_plus

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gati.core.envelopes import RequestEnvelope
from gati.core.http import parse_json
from gati.core.redact import MASK, Masker
from gati.errors import ConfigError, RequestError

PREFIX = "gati-sealed:v1:"
DEFAULT_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
# Query parameters that carry credentials by convention: OAuth 2 (RFC 6750 section 2.3,
# RFC 6749), API keys, presigned-URL signatures (AWS SigV4, Azure SAS), passwords.
# Matched by name, case-insensitively; GATI_SENSITIVE_QUERY adds more.
DEFAULT_QUERY = frozenset({
    "access_token", "id_token", "refresh_token", "token", "auth", "authorization",
    "api_key", "apikey", "api-key", "x-api-key", "client_secret", "secret", "password",
    "passwd", "signature", "sig", "x-amz-signature", "x-amz-credential",
    "x-amz-security-token", "session", "sessionid", "jwt",
})


def parse_key(text: str) -> bytes:
    """A 32-byte key, base64 (standard or urlsafe) encoded."""
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (ValueError, TypeError):
        raise ConfigError("GATI_SEAL_KEY is not base64") from None
    if len(key) != 32:
        raise ConfigError(f"GATI_SEAL_KEY must decode to 32 bytes, got {len(key)} "
                          "(make one with: python -c \"import os,base64;"
                          "print(base64.urlsafe_b64encode(os.urandom(32)).decode())\")")
    return key


def new_key() -> bytes:
    return os.urandom(32)


@dataclass(frozen=True, slots=True)
class Sensitive:
    """Which request values are sensitive: header names and dotted JSON body paths."""

    headers: frozenset[str] = DEFAULT_HEADERS
    fields: tuple[tuple[str, ...], ...] = ()
    query: frozenset[str] = DEFAULT_QUERY

    @classmethod
    def from_settings(cls, headers: str, fields: str, query: str = "") -> Sensitive:
        extra = {h.strip().lower() for h in headers.split(",") if h.strip()}
        paths = tuple(tuple(p.split(".")) for p in (f.strip() for f in fields.split(",")) if p)
        params = {q.strip().lower() for q in query.split(",") if q.strip()}
        return cls(DEFAULT_HEADERS | extra, paths, DEFAULT_QUERY | params)

    def values(self, env: RequestEnvelope) -> list[str]:
        """The plain sensitive values of an (unsealed) envelope, for the redactor."""
        out = []
        for k, v in env.headers:
            if k in self.headers and v:
                out.append(v)
                scheme, credentials = _auth_parts(k, v)
                if scheme:
                    out.append(credentials)  # a handler may log just the token
        if self.fields:
            body = _json_body(env)
            if body is not None:
                for path in self.fields:
                    value = _get(body, path)
                    if isinstance(value, str) and value:
                        out.append(value)
        for raw in _query_values(env.query, self.query):
            # As sent and as decoded: a handler sees the decoded one.
            out.extend({raw, unquote_plus(raw)})
        return out


class Sealer:
    def __init__(self, key: bytes, sensitive: Sensitive) -> None:
        self._aead = AESGCM(key)
        self.sensitive = sensitive

    def seal_value(self, value: str, request_id: str) -> str:
        nonce = os.urandom(12)
        data = self._aead.encrypt(nonce, value.encode(), request_id.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + data).decode()

    def unseal_value(self, value: str, request_id: str) -> str:
        if not value.startswith(PREFIX):
            return value
        try:
            raw = base64.urlsafe_b64decode(value[len(PREFIX):])
            return self._aead.decrypt(raw[:12], raw[12:], request_id.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise RequestError("a sealed request value could not be opened (is GATI_SEAL_KEY "
                               "the same on gateway and worker?)", code="unseal_failed") from exc

    def seal(self, env: RequestEnvelope) -> RequestEnvelope:
        rid = env.request_id
        # A parameter's value is sealed as sent (still percent-encoded), so unsealing
        # gives back the client's exact query string.
        return self._map(env, lambda v: self.seal_value(v, rid),
                         lambda raw: quote(self.seal_value(raw, rid), safe=""))

    def unseal(self, env: RequestEnvelope) -> RequestEnvelope:
        rid = env.request_id
        return self._map(env, lambda v: self.unseal_value(v, rid),
                         lambda raw: self.unseal_value(unquote_plus(raw), rid)
                         if _sealed(raw) else raw)

    def _map(self, env: RequestEnvelope, fn: Any, query_fn: Callable[[str], str]
             ) -> RequestEnvelope:
        headers = tuple((k, fn(v) if k in self.sensitive.headers and v else v)
                        for k, v in env.headers)
        body = env.body
        if self.sensitive.fields:
            parsed = _json_body(env)
            if parsed is not None and _apply(parsed, self.sensitive.fields, fn):
                body = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()
        query = map_query(env.query, self.sensitive.query, query_fn)
        return replace(env, headers=headers, body=body, query=query)


def mask(env: RequestEnvelope, sensitive: Sensitive, masker: Masker | None = None,
         sealer: Sealer | None = None) -> RequestEnvelope:
    """What the record keeps: every sensitive value replaced by its mask token.

    Sealed values are opened first when the sealer is at hand, so the token is the
    token of the value, equal to the token of the same value read as a secret.
    """
    m = masker or Masker()

    def token(value: str) -> str:
        if sealer is not None and value.startswith(PREFIX):
            try:
                value = sealer.unseal_value(value, env.request_id)
            except RequestError:
                return MASK
        return m.mask(value)

    def header_token(name: str, value: str) -> str:
        if sealer is not None and value.startswith(PREFIX):
            try:
                value = sealer.unseal_value(value, env.request_id)
            except RequestError:
                return MASK
        scheme, credentials = _auth_parts(name, value)
        return f"{scheme} {m.mask(credentials)}" if scheme else m.mask(value)

    headers = tuple((k, header_token(k, v) if k in sensitive.headers and v else v)
                    for k, v in env.headers)
    body = env.body
    if sensitive.fields:
        parsed = _json_body(env)
        if parsed is not None and _apply(parsed, sensitive.fields, token):
            body = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()
    def query_token(raw: str) -> str:
        # The token of the decoded value: a credential sent in the query gets the token
        # it would get in a header.
        if _sealed(raw):
            if sealer is None:
                return MASK
            try:
                raw = sealer.unseal_value(unquote_plus(raw), env.request_id)
            except RequestError:
                return MASK
        return quote(m.mask(unquote_plus(raw)), safe="[]:")

    query = map_query(env.query, sensitive.query, query_token)
    return replace(env, headers=headers, body=body, query=query)


def map_query(query: str, names: frozenset[str], fn: Callable[[str], str]) -> str:
    """``query`` with the raw value of every parameter named in ``names`` through ``fn``.

    Everything else stays byte for byte as the client sent it (order, encoding,
    repeated and valueless parameters), so a replayed request sees the same string.
    """
    if not query or not names:
        return query
    parts = query.split("&")
    changed = False
    for i, part in enumerate(parts):
        name, eq, raw = part.partition("=")
        if eq and raw and unquote_plus(name).lower() in names:
            parts[i] = f"{name}={fn(raw)}"
            changed = True
    return "&".join(parts) if changed else query


def _query_values(query: str, names: frozenset[str]) -> list[str]:
    found: list[str] = []

    def keep(raw: str) -> str:
        found.append(raw)
        return raw

    map_query(query, names, keep)
    return found


def _sealed(raw: str) -> bool:
    return unquote_plus(raw).startswith(PREFIX)


def _auth_parts(name: str, value: str) -> tuple[str, str]:
    """``Bearer abc`` -> (``Bearer``, ``abc``): the scheme stays readable in the record."""
    if name in ("authorization", "proxy-authorization") and " " in value.strip():
        scheme, _, credentials = value.strip().partition(" ")
        if scheme.isalpha():
            return scheme, credentials.strip()
    return "", value


def _json_body(env: RequestEnvelope) -> Any:
    ctype = (env.header("content-type") or "").split(";")[0].strip().lower()
    if not env.body or not (ctype == "application/json" or ctype.endswith("+json")):
        return None
    try:
        return parse_json(env.body)
    except RequestError:
        return None  # the worker answers invalid_json


def _get(body: Any, path: Iterable[str]) -> Any:
    for part in path:
        if not isinstance(body, dict) or part not in body:
            return None
        body = body[part]
    return body


def _apply(body: Any, paths: Iterable[tuple[str, ...]], fn: Any) -> bool:
    changed = False
    for path in paths:
        node = body
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(path[-1]), str):
            node[path[-1]] = fn(node[path[-1]])
            changed = True
    return changed


def sealer_for(key: str, headers: str, fields: str, *,
               ephemeral: bytes | None = None, query: str = "") -> Sealer | None:
    """The sealer configured by GATI_SEAL_KEY; one-process setups may pass a random key."""
    sensitive = Sensitive.from_settings(headers, fields, query)
    if key:
        return Sealer(parse_key(key), sensitive)
    return Sealer(ephemeral, sensitive) if ephemeral is not None else None


def masker_for(key: str, ephemeral: bytes | None = None) -> Masker:
    """Mask tokens keyed from GATI_SEAL_KEY (or the one-process key of gati dev)."""
    raw = parse_key(key) if key else ephemeral
    if raw is None:
        return Masker()
    return Masker(hmac.new(raw, b"gati-mask-v1", hashlib.sha256).digest())
