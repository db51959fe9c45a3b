"""What sending typed bodies as Avro costs the gateway, and what it saves on Kafka.

Per request, side by side in one run, for bodies of examples/users and of a larger
nested type (about 1 KB of JSON, like bench/peers/handler.py):

- baseline: the gateway's own per-request codec work, encoding the RequestEnvelope with
  the client's JSON bytes as the body;
- typed: finding route and version, parsing and validating the JSON, encoding it as
  Avro, checking the round trip, then encoding the envelope with the Avro body.

Reports microseconds per request (median of the rounds), the ratio typed / baseline and
the envelope sizes. Usage:

    .venv/bin/python bench/typed_bodies.py [--rounds 7] [--n 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples.users.app import app as users  # noqa: E402
from gati import App, GlobalContext, LocalContext, Request, Response  # noqa: E402
from gati.codec.envelopes import EnvelopeCodec  # noqa: E402
from gati.core.envelopes import RequestEnvelope  # noqa: E402
from gati.gateway.bodies import TypedBodies  # noqa: E402


@dataclass
class Item:
    sku: str
    name: str
    quantity: int
    unit_price: float
    tags: list[str]


@dataclass
class Address:
    street: str
    city: str
    postcode: str
    country: str


@dataclass
class Order:
    order_id: str
    customer: str
    email: str
    shipping: Address
    items: list[Item]
    note: str | None


orders = App("orders")


@orders.post("/orders", request=Order)
async def place(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    res.status(201).json({"ok": True})


ORDER = {
    "order_id": "ord-000123", "customer": "Ada Lovelace", "email": "ada@example.com",
    "shipping": {"street": "12 Analytical Row", "city": "London", "postcode": "NW1 2AB",
                 "country": "GB"},
    "items": [{"sku": f"SKU-{i:04d}", "name": f"Difference engine part {i}", "quantity": i + 1,
               "unit_price": 19.5 + i, "tags": ["brass", "gear", "vintage"]}
              for i in range(7)],
    "note": "Leave at the door",
}
CASES = {
    "users POST /users": (users, "/users", {"name": "Ada Lovelace", "email": "ada@example.com"}),
    "orders POST /orders (~1 KB)": (orders, "/orders", ORDER),
}


class _Ids:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    async def __call__(self, schema: Any, spec: dict[str, Any]) -> int:
        return self.ids.setdefault(json.dumps(schema, sort_keys=True), len(self.ids) + 1)


def _env(path: str, body: bytes) -> RequestEnvelope:
    return RequestEnvelope("01935d2e-0000-7000-8000-000000000000", "gw", "gati.replies.gw", 0,
                           1_750_000_000_000_000, 1_750_000_030_000_000, "POST", path, "",
                           (("content-type", "application/json"), ("host", "localhost")),
                           body)


def measure(app: App, path: str, value: Any, rounds: int, n: int) -> dict[str, Any]:
    app.validate()
    bodies = asyncio.run(TypedBodies.register(app, _Ids()))
    codec = EnvelopeCodec()
    raw = json.dumps(value).encode()
    env = _env(path, raw)

    def baseline() -> bytes:
        return codec.encode_request(env)

    def typed() -> bytes:
        found = bodies.encode("POST", path, None, "application/json", raw)
        assert found is not None, "the body must travel as Avro"
        return codec.encode_request(replace(env, body=found[1], body_schema=found[0]))

    times: dict[str, list[float]] = {"baseline": [], "typed": []}
    for r in range(rounds):
        for name in (("baseline", "typed") if r % 2 == 0 else ("typed", "baseline")):
            fn = baseline if name == "baseline" else typed
            started = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - started) / n * 1e6)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "json_body_bytes": len(raw),
        "avro_body_bytes": len(typed()) - len(baseline()) + len(raw),
        "envelope_bytes": {"baseline": len(baseline()), "typed": len(typed())},
        "us_per_request": {k: round(v, 2) for k, v in med.items()},
        "spread_us": {k: [round(min(v), 2), round(max(v), 2)] for k, v in times.items()},
        "typed_over_baseline": round(med["typed"] / med["baseline"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    out = {name: measure(app, path, value, args.rounds, args.n)
           for name, (app, path, value) in CASES.items()}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
