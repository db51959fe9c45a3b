"""The values of fields typed as secret, so the recording can scrub them."""

from __future__ import annotations

from typing import Any

from gati.types.model import GType


def secret_strings(gtype: GType, value: Any, *, inside: bool = False) -> list[str]:
    """Every string in ``value`` that sits under a ``Secret``-marked part of ``gtype``."""
    secret = inside or gtype.secret
    out: list[str] = []
    if isinstance(value, str):
        return [value] if secret else []
    if isinstance(value, dict):
        for key, item in value.items():
            prop = gtype.properties.get(key) or gtype.values
            if prop is not None:
                out += secret_strings(prop, item, inside=secret)
            elif secret:
                out += secret_strings(gtype, item, inside=True)
    elif isinstance(value, list | tuple):
        for item in value:
            if gtype.items is not None:
                out += secret_strings(gtype.items, item, inside=secret)
    elif gtype.variants and value is not None:
        for variant in gtype.variants:
            out += secret_strings(variant, value, inside=secret)
    return out
