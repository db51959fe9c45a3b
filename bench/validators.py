"""Compiled GType validators vs pydantic v2 vs msgspec, on one nested type, in one run.

    .venv/bin/pip install pydantic msgspec   # the ``bench`` extra
    .venv/bin/python -m bench.validators [--repeat 7] [--json]

The type is an order: a customer with an address, a status enum, a timestamp and 20 line
items, each with a patterned SKU, a bounded quantity and a positive price. Every library
gets the same constraints and the same input (JSON-parsed dicts). Rows:

- ``gati validate``: the compiled validator alone (returns the list of issues);
- ``gati parse``: validate, then convert to dataclasses (what a handler receives);
- ``pydantic``: ``TypeAdapter(Order).validate_python`` (validates and builds dataclasses);
- ``msgspec``: ``msgspec.convert(data, Order)`` into ``msgspec.Struct`` classes;
- ``closures``: the same checks as composed closures, the design we did not pick.

Invalid input has four bad fields; gati and pydantic report all four, msgspec stops at
the first, so its invalid row measures less work. Times are the median of ``--repeat``
timeit runs, per call, in microseconds.

(No ``from __future__ import annotations`` here: pydantic and msgspec resolve the
annotations of the classes defined inside their runner functions.)
"""

import argparse
import dataclasses
import enum
import json
import re
import statistics
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import gati.types as gt

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"
SKU = r"^[A-Z]{3}-\d{4}$"
ZIP = r"^\d{5}$"


class Status(enum.StrEnum):
    NEW = "new"
    PAID = "paid"
    SHIPPED = "shipped"


# -- the type, for gati ---------------------------------------------------------------


@dataclass
class Address:
    street: Annotated[str, gt.MinLen(1), gt.MaxLen(100)]
    city: Annotated[str, gt.MinLen(1)]
    zip: Annotated[str, gt.Pattern(ZIP)]
    country: Annotated[str, gt.MinLen(2), gt.MaxLen(2)]


@dataclass
class Customer:
    id: Annotated[int, gt.Min(1)]
    name: Annotated[str, gt.MinLen(1), gt.MaxLen(100)]
    email: Annotated[str, gt.Pattern(EMAIL)]
    address: Address
    vip: bool = False


@dataclass
class Item:
    sku: Annotated[str, gt.Pattern(SKU)]
    name: Annotated[str, gt.MinLen(1)]
    quantity: Annotated[int, gt.Min(1), gt.Max(1000)]
    price: Annotated[float, gt.ExclusiveMin(0)]
    tags: list[str] = field(default_factory=list)


@dataclass
class Order:
    id: Annotated[int, gt.Min(1)]
    status: Status
    customer: Customer
    items: Annotated[list[Item], gt.MinLen(1), gt.MaxLen(100)]
    note: str | None = None


def make_order(n_items: int = 20) -> dict[str, Any]:
    data = {
        "id": 42,
        "status": "paid",
        "customer": {
            "id": 7,
            "name": "Ada Lovelace",
            "email": "ada@example.org",
            "address": {
                "street": "1 Analytical Way",
                "city": "London",
                "zip": "12345",
                "country": "GB",
            },
            "vip": True,
        },
        "items": [
            {
                "sku": f"ABC-{1000 + i}",
                "name": f"item {i}",
                "quantity": 1 + i % 5,
                "price": 9.99 + i,
                "tags": ["new", "sale"],
            }
            for i in range(n_items)
        ],
        "note": "leave at the door",
    }
    parsed: dict[str, Any] = json.loads(json.dumps(data))
    return parsed


def make_invalid() -> dict[str, Any]:
    data = make_order()
    data["customer"]["email"] = "not-an-email"
    data["customer"]["address"]["zip"] = "1234"
    data["items"][3]["quantity"] = 0
    data["items"][17]["sku"] = "abc-1"
    return data


# -- the same type for pydantic and msgspec ------------------------------------------------


def pydantic_runner() -> tuple[Callable[[Any], Any], type[Exception]] | None:
    try:
        import annotated_types as at
        import pydantic
    except ImportError:
        return None
    pat = pydantic.StringConstraints

    @dataclass
    class PAddress:
        street: Annotated[str, at.MinLen(1), at.MaxLen(100)]
        city: Annotated[str, at.MinLen(1)]
        zip: Annotated[str, pat(pattern=ZIP)]
        country: Annotated[str, at.MinLen(2), at.MaxLen(2)]

    @dataclass
    class PCustomer:
        id: Annotated[int, at.Ge(1)]
        name: Annotated[str, at.MinLen(1), at.MaxLen(100)]
        email: Annotated[str, pat(pattern=EMAIL)]
        address: PAddress
        vip: bool = False

    @dataclass
    class PItem:
        sku: Annotated[str, pat(pattern=SKU)]
        name: Annotated[str, at.MinLen(1)]
        quantity: Annotated[int, at.Ge(1), at.Le(1000)]
        price: Annotated[float, at.Gt(0)]
        tags: list[str] = field(default_factory=list)

    @dataclass
    class POrder:
        id: Annotated[int, at.Ge(1)]
        status: Status
        customer: PCustomer
        items: Annotated[list[PItem], at.MinLen(1), at.MaxLen(100)]
        note: str | None = None

    return pydantic.TypeAdapter(POrder).validate_python, pydantic.ValidationError


def msgspec_runner() -> tuple[Callable[[Any], Any], type[Exception]] | None:
    try:
        import msgspec
    except ImportError:
        return None
    meta = msgspec.Meta

    class MAddress(msgspec.Struct):
        street: Annotated[str, meta(min_length=1, max_length=100)]
        city: Annotated[str, meta(min_length=1)]
        zip: Annotated[str, meta(pattern=ZIP)]
        country: Annotated[str, meta(min_length=2, max_length=2)]

    class MCustomer(msgspec.Struct):
        id: Annotated[int, meta(ge=1)]
        name: Annotated[str, meta(min_length=1, max_length=100)]
        email: Annotated[str, meta(pattern=EMAIL)]
        address: MAddress
        vip: bool = False

    class MItem(msgspec.Struct):
        sku: Annotated[str, meta(pattern=SKU)]
        name: Annotated[str, meta(min_length=1)]
        quantity: Annotated[int, meta(ge=1, le=1000)]
        price: Annotated[float, meta(gt=0)]
        tags: list[str] = []

    class MOrder(msgspec.Struct):
        id: Annotated[int, meta(ge=1)]
        status: Status
        customer: MCustomer
        items: Annotated[list[MItem], meta(min_length=1, max_length=100)]
        note: str | None = None

    def run(data: Any) -> Any:
        return msgspec.convert(data, MOrder)

    return run, msgspec.ValidationError


# -- the design not taken: closures composed per GType node ---------------------------------


def closure_validator(t: gt.GType) -> Callable[[Any, str, list[str]], None]:
    """Just enough of a closure-composing validator for the bench type."""
    c = t.constraints
    inner: Callable[[Any, str, list[str]], None]
    if t.kind == "object":
        props = [(k, k in t.required, closure_validator(p)) for k, p in t.properties.items()]

        def inner(v: Any, path: str, out: list[str]) -> None:
            if type(v) is not dict:
                out.append(path)
                return
            for key, required, check in props:
                if key in v:
                    check(v[key], f"{path}.{key}", out)
                elif required:
                    out.append(f"{path}.{key}")
    elif t.kind == "array":
        item = closure_validator(t.items or gt.GType("any"))

        def inner(v: Any, path: str, out: list[str]) -> None:
            if type(v) is not list or (c.min_items or 0) > len(v):
                out.append(path)
                return
            for i, x in enumerate(v):
                item(x, f"{path}[{i}]", out)
    elif t.kind == "string":
        search = re.compile(c.pattern).search if c.pattern else None

        def inner(v: Any, path: str, out: list[str]) -> None:
            if (
                not isinstance(v, str)
                or (c.min_length or 0) > len(v)
                or (c.max_length is not None and len(v) > c.max_length)
                or (search is not None and search(v) is None)
            ):
                out.append(path)
    elif t.kind in ("integer", "number"):
        types_ = (int,) if t.kind == "integer" else (int, float)

        def inner(v: Any, path: str, out: list[str]) -> None:
            if (
                type(v) not in types_
                or (c.minimum is not None and v < c.minimum)
                or (c.maximum is not None and v > c.maximum)
                or (c.exclusive_minimum is not None and v <= c.exclusive_minimum)
            ):
                out.append(path)
    elif t.kind == "enum":
        values = frozenset(t.enum)

        def inner(v: Any, path: str, out: list[str]) -> None:
            if not isinstance(v, str) or v not in values:
                out.append(path)
    elif t.kind == "boolean":

        def inner(v: Any, path: str, out: list[str]) -> None:
            if type(v) is not bool:
                out.append(path)
    else:

        def inner(v: Any, path: str, out: list[str]) -> None:
            return None

    if not t.nullable:
        return inner

    def nullable(v: Any, path: str, out: list[str]) -> None:
        if v is not None:
            inner(v, path, out)

    return nullable


# -- measuring ------------------------------------------------------------------------------


def per_call_us(calls: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Median µs per call of each entry; runs are interleaved (one round of every entry
    per repeat) so that load from elsewhere on the machine hits all rows alike."""
    timers = {name: timeit.Timer(fn) for name, fn in calls.items()}
    numbers = {name: t.autorange()[0] for name, t in timers.items()}
    runs: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, timer in timers.items():
            runs[name].append(timer.timeit(numbers[name]) / numbers[name] * 1e6)
    return {name: statistics.median(times) for name, times in runs.items()}


def bind(fn: Callable[[Any], Any], arg: Any) -> Callable[[], Any]:
    return lambda: fn(arg)


def swallow(fn: Callable[[Any], Any], error: type[Exception]) -> Callable[[Any], Any]:
    def run(data: Any) -> Any:
        try:
            return fn(data)
        except error as exc:
            return exc

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    contract = gt.contract(Order, app="bench", handler="orders")
    validate = contract.validator.function
    closure = closure_validator(contract.gtype)
    valid, invalid = make_order(), make_invalid()
    assert validate(valid) == [] and len(validate(invalid)) == 4
    assert dataclasses.is_dataclass(contract.parse(valid))

    rows: dict[str, Callable[[Any], Any]] = {
        "gati validate": validate,
        "gati parse (validate + dataclasses)": swallow(contract.parse, gt.ValidationFailed),
        "closures (same checks)": lambda d: closure(d, "$", []),
    }
    for name, runner in (
        ("pydantic v2 TypeAdapter", pydantic_runner()),
        ("msgspec.convert (Struct)", msgspec_runner()),
    ):
        if runner is None:
            print(f"{name}: not installed (pip install pydantic msgspec)")
            continue
        fn, error = runner
        fn(valid)
        rows[name] = swallow(fn, error)

    calls = {
        (name, kind): bind(fn, data)
        for name, fn in rows.items()
        for kind, data in (("valid_us", valid), ("invalid_us", invalid))
    }
    timed = per_call_us({f"{n}\0{k}": fn for (n, k), fn in calls.items()}, args.repeat)
    results: dict[str, dict[str, float]] = {name: {} for name in rows}
    for key, us in timed.items():
        name, kind = key.split("\0")
        results[name][kind] = us
    if args.json:
        print(json.dumps(results, indent=2))
        return
    base = results.get("pydantic v2 TypeAdapter")
    print(
        f"order with 20 items; median of {args.repeat} runs; µs per call "
        "(ratio = pydantic time / this time: > 1 is faster than pydantic)"
    )
    print(f"{'':38} {'valid':>8} {'ratio':>6}   {'invalid':>8} {'ratio':>6}")
    for name, r in results.items():
        rv = f"{base['valid_us'] / r['valid_us']:.2f}" if base else "-"
        ri = f"{base['invalid_us'] / r['invalid_us']:.2f}" if base else "-"
        print(f"{name:38} {r['valid_us']:8.2f} {rv:>6}   {r['invalid_us']:8.2f} {ri:>6}")


if __name__ == "__main__":
    main()
