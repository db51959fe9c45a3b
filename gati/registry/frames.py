"""The schemas Gati's own frames carry, as a registry serves them.

Every message on Gati's topics starts with magic byte 0 and the id of its envelope
schema, taken from ``schemas/avro/registry.json`` (``gati.codec.avro``). Those ids are
fixed by the files, not allocated by the database, so the registry serves them from the
same files the codec loads: a Kafka tool that resolves id 9 gets exactly the schema the
writer used.

A registry answers a schema as one self-contained document, while the files share named
types (``gati.Header``, ``gati.LifecycleEvent``) by reference. ``inline`` writes each
named type in full at its first use and leaves later uses as names, which is what any
Avro parser (fastavro, ``avro``, Java's) accepts.

Subjects follow the two strategies Confluent's serializers use: the record name
(``gati.RequestEnvelope``, RecordNameStrategy) and the topic (``gati.requests-value``,
TopicNameStrategy, for the topics whose name is fixed by the settings).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gati.codec.avro import schema_dir
from gati.config import Settings
from gati.types.avro_schema import canonical

_NAMED = ("record", "enum", "fixed", "error")


@dataclass(frozen=True, slots=True)
class FrameSchema:
    """One envelope schema: the id frames carry, its record name and the whole schema."""

    schema_id: int
    name: str
    schema: Any

    @property
    def text(self) -> str:
        return canonical(self.schema)


@dataclass(frozen=True, slots=True)
class FrameCatalog:
    """Frame schemas by id and by subject; read-only, built once per process."""

    by_id: dict[int, FrameSchema]
    subjects: dict[str, tuple[int, ...]]  # subject -> schema ids, version 1 first

    def find(self, subject: str, text: str) -> tuple[int, int] | None:
        """(schema id, version) of ``text`` under ``subject``, or None."""
        for version, schema_id in enumerate(self.subjects.get(subject, ()), start=1):
            if self.by_id[schema_id].text == text:
                return schema_id, version
        return None


def load_frames(settings: Settings, directory: Path | None = None) -> FrameCatalog:
    """The catalog for ``settings``' topic names, from the codec's schema directory."""
    directory = directory or schema_dir()
    index = json.loads((directory / "registry.json").read_text())
    named: dict[str, Any] = {}
    for file in index.get("named_types", []):
        _collect(json.loads((directory / file).read_text()), "", named)
    by_id: dict[int, FrameSchema] = {}
    by_name: dict[str, list[int]] = {}
    for item in index["schemas"]:
        raw = json.loads((directory / item["file"]).read_text())
        # As the codec does: a schema sees the named types of those listed before it.
        by_id[int(item["id"])] = FrameSchema(int(item["id"]), item["name"], inline(raw, named))
        _collect(raw, "", named)
        by_name.setdefault(item["name"], []).append(int(item["id"]))
    subjects = {name: tuple(ids) for name, ids in by_name.items()}
    topics = {
        settings.requests_topic: "gati.RequestEnvelope",
        settings.lifecycle_topic: "gati.LifecycleBatch",
        settings.deadletter_topic: "gati.DeadLetter",
    }
    for topic, name in topics.items():
        ids = list(by_name.get(name, ()))
        if name == "gati.LifecycleBatch":  # older workers wrote one event per message
            ids = [*by_name.get("gati.LifecycleEvent", ()), *ids]
        subjects[f"{topic}-value"] = tuple(ids)
    return FrameCatalog(by_id, subjects)


def _fullname(node: dict[str, Any], namespace: str) -> tuple[str, str]:
    name = str(node["name"])
    if "." in name:
        return name, name.rsplit(".", 1)[0]
    space = str(node.get("namespace", namespace))
    return (f"{space}.{name}" if space else name), space


def _collect(node: Any, namespace: str, named: dict[str, Any]) -> None:
    """Remember every named type defined in ``node`` under its full name."""
    if isinstance(node, list):
        for branch in node:
            _collect(branch, namespace, named)
        return
    if not isinstance(node, dict):
        return
    space = namespace
    if node.get("type") in _NAMED:
        full, space = _fullname(node, namespace)
        named[full] = _qualified(node, full)
    for field in node.get("fields", ()):
        _collect(field["type"], space, named)
    for key in ("items", "values"):
        if key in node:
            _collect(node[key], space, named)


def _qualified(node: dict[str, Any], full: str) -> dict[str, Any]:
    out = copy.deepcopy(node)
    out.pop("namespace", None)
    out["name"] = full
    return out


def inline(schema: Any, named: dict[str, Any]) -> Any:
    """``schema`` with each referenced named type written out at its first use."""
    return _inline(copy.deepcopy(schema), "", named, set())


def _inline(node: Any, namespace: str, named: dict[str, Any], defined: set[str]) -> Any:
    if isinstance(node, str):
        full = node if "." in node or not namespace else f"{namespace}.{node}"
        if full in named and full not in defined:
            return _inline(copy.deepcopy(named[full]), namespace, named, defined)
        return node
    if isinstance(node, list):
        return [_inline(branch, namespace, named, defined) for branch in node]
    if not isinstance(node, dict):
        return node
    space = namespace
    if node.get("type") in _NAMED:
        full, space = _fullname(node, namespace)
        defined.add(full)
    elif isinstance(node.get("type"), (str, list, dict)) and "fields" not in node \
            and node.get("type") not in ("array", "map"):
        node["type"] = _inline(node["type"], namespace, named, defined)
    for field in node.get("fields", ()):
        field["type"] = _inline(field["type"], space, named, defined)
    for key in ("items", "values"):
        if key in node:
            node[key] = _inline(node[key], space, named, defined)
    return node
