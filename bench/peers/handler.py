"""The one handler every system serves: about 1 KB of JSON in and out, a little CPU.

The request is an order (``bench/harness/wrk.lua`` and ``openloop.py`` build it): 12
lines of items. The answer prices every line, sorts the lines by amount, and signs the
result with a few rounds of SHA-256, which costs tens of microseconds: enough to be a
handler, little enough that the systems' own costs dominate.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

ROUNDS = 50


def work(order: dict[str, Any]) -> dict[str, Any]:
    """Price ``order``; raises ``ValueError`` for a malformed one."""
    items = order.get("items")
    if not isinstance(items, list) or not items:
        raise ValueError("an order needs a non-empty list of items")
    lines = []
    for item in items:
        qty = int(item["qty"])
        price = int(item["price_cents"])
        lines.append(
            {"sku": str(item["sku"]), "qty": qty, "amount_cents": qty * price, "name": item["name"]}
        )
    lines.sort(key=lambda line: (-line["amount_cents"], line["sku"]))
    total = sum(line["amount_cents"] for line in lines)
    digest = json.dumps(lines, separators=(",", ":"), sort_keys=True).encode()
    for _ in range(ROUNDS):
        digest = hashlib.sha256(digest).digest()
    return {
        "order_id": str(order.get("order_id", "")),
        "currency": order.get("currency", "EUR"),
        "total_cents": total,
        "signature": digest.hex(),
        "lines": lines,
    }


def work_bytes(body: bytes) -> tuple[int, bytes]:
    """``work`` on raw request bytes: ``(status, response body)`` for a plain server."""
    try:
        return 200, json.dumps(work(json.loads(body)), separators=(",", ":")).encode()
    except (ValueError, KeyError, TypeError) as exc:
        return 400, json.dumps({"error": str(exc)}).encode()


def sample_order(order_id: str = "sample") -> dict[str, Any]:
    """The same document ``wrk.lua`` sends, for the open-loop generator and checks."""
    items = [
        {
            "sku": f"SKU-{i * 7919 % 100000:05d}",
            "name": f"Item number {i} of the order",
            "qty": (i % 5) + 1,
            "price_cents": 199 + i * 137,
        }
        for i in range(1, 13)
    ]
    return {
        "order_id": order_id,
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "country": "GB"},
        "currency": "EUR",
        "items": items,
    }
