"""Sealing sensitive request values before they reach the log.

Authorization and Cookie headers (and any configured header or JSON body field) are
encrypted by the gateway with AES-256-GCM under ``GATI_SEAL_KEY``, bound to the request
id, so Kafka holds only ciphertext. The worker unseals them for the handler; the
recorder stores a mask; replay sees the mask. Secrets are never needed to replay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gati.core.envelopes import RequestEnvelope
from gati.core.http import parse_json
from gati.core.redact import MASK, Masker
from gati.errors import ConfigError, RequestError

PREFIX = "gati-sealed:v1:"
DEFAULT_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


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

    @classmethod
    def from_settings(cls, headers: str, fields: str) -> Sensitive:
        extra = {h.strip().lower() for h in headers.split(",") if h.strip()}
        paths = tuple(tuple(p.split(".")) for p in (f.strip() for f in fields.split(",")) if p)
        return cls(DEFAULT_HEADERS | extra, paths)

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
        return self._map(env, lambda v: self.seal_value(v, env.request_id))

    def unseal(self, env: RequestEnvelope) -> RequestEnvelope:
        return self._map(env, lambda v: self.unseal_value(v, env.request_id))

    def _map(self, env: RequestEnvelope, fn: Any) -> RequestEnvelope:
        headers = tuple((k, fn(v) if k in self.sensitive.headers and v else v)
                        for k, v in env.headers)
        body = env.body
        if self.sensitive.fields:
            parsed = _json_body(env)
            if parsed is not None and _apply(parsed, self.sensitive.fields, fn):
                body = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()
        return replace(env, headers=headers, body=body)


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
    return replace(env, headers=headers, body=body)


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
               ephemeral: bytes | None = None) -> Sealer | None:
    """The sealer configured by GATI_SEAL_KEY; one-process setups may pass a random key."""
    sensitive = Sensitive.from_settings(headers, fields)
    if key:
        return Sealer(parse_key(key), sensitive)
    return Sealer(ephemeral, sensitive) if ephemeral is not None else None


def masker_for(key: str, ephemeral: bytes | None = None) -> Masker:
    """Mask tokens keyed from GATI_SEAL_KEY (or the one-process key of gati dev)."""
    raw = parse_key(key) if key else ephemeral
    if raw is None:
        return Masker()
    return Masker(hmac.new(raw, b"gati-mask-v1", hashlib.sha256).digest())
