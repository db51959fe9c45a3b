"""``gati schemas``: each handler version's request and response as Avro schemas.

Names are stable across versions: a handler's types live in the namespace
``gati.app.<app>.<handler>`` (``namespace_for``, the one Timescape's compatibility
verdicts use), so version 2 of a record has the same full name as version 1 and the two
can be compared.

Each Timescape version is its own subject, ``gati.app.<app>.<handler>.request@<version>``
(or ``.response@...``): a deployed version's contract may only evolve compatibly (the
store refuses anything else), while a new Timescape version may break its predecessor,
which is what versions are for; ``gati schemas --register`` reports that verdict without
refusing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gati.manifest import AppManifest
from gati.types import namespace_for, to_avro
from gati.types.avro_schema import root_name

# The direction old clients need: a new handler must read old requests (backward); old
# clients must read new responses (forward).
MODES = {"request": "backward", "response": "forward"}


@dataclass(frozen=True, slots=True)
class AvroSchemaFile:
    handler_id: str
    version: str
    side: str  # request or response
    subject: str
    filename: str
    schema: Any

    @property
    def mode(self) -> str:
        return MODES[self.side]


def avro_schemas(manifest: AppManifest) -> list[AvroSchemaFile]:
    """Every typed request and response, oldest version first within each handler."""
    out: list[AvroSchemaFile] = []
    handlers = sorted(manifest.handlers, key=lambda h: (h.handler_id, h.tsv_us))
    for h in handlers:
        namespace = namespace_for(manifest.app, h.name)
        label = re.sub(r"[^A-Za-z0-9._-]", "_", h.version)
        for side, ref in (("request", h.request), ("response", h.response)):
            if ref is None:
                continue
            schema = to_avro(manifest.gtype(ref), namespace=namespace,
                             name=root_name(h.name, side))
            out.append(AvroSchemaFile(h.handler_id, h.version, side,
                                      f"{namespace}.{side}@{h.version}",
                                      f"{h.name}.{label}.{side}.avsc", schema))
    return out

