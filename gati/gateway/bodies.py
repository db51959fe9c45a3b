"""Which typed bodies the gateway sends as Avro, and the encoding.

Given the app's code, the gateway finds the route and the version a request asks for
(Timescape's rules over the versions declared in code) and, when that version declares
a request type, encodes the JSON body with the type's Avro codec. It does so only when
nothing can change on the way: the body must be valid, and decoding the Avro must give
back the very JSON value the client sent: the same keys and values of the same JSON
types (``1`` sent for a ``float`` field comes back ``1.0``, so that body goes as JSON;
key order is not kept, JSON objects have none). Anything else (invalid JSON, an
invalid body, a default Avro would fill in, a date spelled differently, a version an
operator tagged) travels as the client's bytes, and the worker answers it exactly as it
always has. So Avro changes the wire, never what a handler sees or what gets answered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from gati.codec.bodies import Ensure, request_contracts, request_schema_ids
from gati.core.app import App
from gati.core.http import is_json_content_type, parse_json
from gati.errors import GatiError, RequestError
from gati.types.contract import TypeContract

log = logging.getLogger(__name__)


class TypedBodies:
    """The app's typed request bodies, by (handler id, version label), with their ids."""

    def __init__(self, app: App, ids: Mapping[tuple[str, str], int]) -> None:
        self.app = app
        self._typed: dict[tuple[str, str], tuple[int, TypeContract]] = {
            key: (ids[key], contract) for key, contract in request_contracts(app)
            if key in ids}

    @classmethod
    async def register(cls, app: App, ensure: Ensure) -> TypedBodies:
        """Put every request contract of ``app`` in the schema store and remember the ids.

        Raises:
            StoreError: the store could not be written.
        """
        return cls(app, await request_schema_ids(app, ensure))

    @property
    def schema_ids(self) -> dict[tuple[str, str], int]:
        return {key: schema_id for key, (schema_id, _) in self._typed.items()}

    def encode(self, method: str, path: str, version_pref: str | None,
               content_type: str | None, body: bytes) -> tuple[int, bytes] | None:
        """``(schema id, Avro bytes)`` for a body that can travel as Avro, else None."""
        if not body or not is_json_content_type(content_type) or not self._typed:
            return None
        try:
            match = self.app.router.match(method, path)
            family = match.route.target
            version = family.resolve(version_pref)
        except GatiError:
            return None  # the worker answers 404 / 405 / a bad version the usual way
        typed = self._typed.get((family.handler_id, version.label))
        if typed is None:
            return None
        schema_id, contract = typed
        try:
            value = parse_json(body)
        except RequestError:
            return None  # the worker answers invalid_json
        if contract.validator(value):
            return None
        try:
            data = contract.codec.encode(value)
            exact = same_json(contract.codec.decode(data), value)
        except GatiError as exc:
            log.warning("typed body of %s not encodable despite validating: %s",
                        family.handler_id, exc)
            return None
        return (schema_id, data) if exact else None


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON documents: ``==`` would let ``1 == 1.0`` and ``True == 1`` through."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
