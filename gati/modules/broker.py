"""The worker's side of a module's capabilities: what a sandboxed module may ask for.

A module in its own network namespace cannot open a socket that goes anywhere, so a
fetch it is allowed is made by the worker on its behalf, after checking the host:port
against the manifest's ``egress`` allowlist. A secret reaches it only if its manifest
names it, and only as the answer to its own request, never as a call argument (which
would be recorded). Everything not declared is refused with ``capability_denied``.

Fetches are made with httpx on the worker's event loop, one connection pool per module:
not on threads, whose default pool (``min(32, cpus + 4)``, six here) the worker shares
with its own DNS look-ups, so a few slow directory services could stall them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from gati.core.context import SecretSource
from gati.core.redact import Redactor
from gati.modules.errors import CapabilityDenied, ModuleError
from gati.modules.spec import ProcessSpec

MAX_BODY = 1 << 20
METHODS = ("http.fetch", "secrets.get")


class CapabilityBroker:
    """Answers ``http.fetch`` and ``secrets.get`` for one module, as declared."""

    def __init__(self, spec: ProcessSpec, secrets: list[SecretSource] | None = None) -> None:
        self._spec = spec
        self._secrets = secrets or []
        self.fetches = 0
        # The worker's: a secret handed out is masked in every later record, as a value
        # read through gctx.secrets is, so a module echoing it records no plaintext.
        self.redactor: Redactor | None = None
        self._client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, method: str, params: Mapping[str, Any]) -> Any:
        if method == "secrets.get":
            return self._secret(params)
        if method == "http.fetch":
            return await self._fetch(params)
        raise CapabilityDenied(f"no capability {method!r} (the broker offers {METHODS})")

    def _secret(self, params: Mapping[str, Any]) -> str:
        name = params.get("name")
        if not isinstance(name, str) or name not in self._spec.capabilities.secrets:
            raise CapabilityDenied(f"module {self._spec.name!r} did not declare secret "
                                   f"{name!r} (declared: {list(self._spec.capabilities.secrets)})")
        for source in self._secrets:
            value = source.lookup(name)
            if value is not None:
                if self.redactor is not None:
                    self.redactor.register(value)
                return value
        raise ModuleError(f"secret {name!r} is not defined")

    def allowed(self, url: str) -> str:
        """The URL's ``host:port`` if the allowlist has it; else ``CapabilityDenied``."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CapabilityDenied(f"http.fetch needs an http(s) URL, got {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = f"{parts.hostname}:{port}"
        if target not in self._spec.capabilities.egress:
            raise CapabilityDenied(f"module {self._spec.name!r} may not reach {target} "
                                   f"(egress: {list(self._spec.capabilities.egress)})")
        return target

    async def _fetch(self, params: Mapping[str, Any]) -> dict[str, Any]:
        url = str(params.get("url", ""))
        self.allowed(url)
        method = str(params.get("method", "GET")).upper()
        body = params.get("body")
        headers = {str(k): str(v) for k, v in dict(params.get("headers") or {}).items()}
        if self._client is None:
            # No redirects (one could lead off the allowlist: the module gets it as is),
            # no proxy or other settings from the worker's environment.
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                             timeout=self._spec.limits.timeout_s)
        self.fetches += 1
        async with self._client.stream(method, url, headers=headers,
                                       content=None if body is None else str(body).encode()
                                       ) as resp:
            raw = bytearray()
            async for chunk in resp.aiter_bytes():
                raw += chunk
                if len(raw) >= MAX_BODY:
                    break
        return {"status": resp.status_code, "headers": dict(resp.headers),
                "body": bytes(raw[:MAX_BODY]).decode(errors="replace")}
