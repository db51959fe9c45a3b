"""A module for the tests, in plain Python (stdlib only), that can be told to misbehave.

It speaks the module protocol correctly until a method asks it not to: ``garbage``
writes a frame that is not JSON, ``oversized`` announces a frame over any limit,
``hang`` never answers, ``freeze`` stops reading (pings too), ``flood`` writes
megabytes to stderr first, ``exit`` exits.
``version`` answers the contents of ``version.txt`` beside this file at start (its
name is in ``name.txt``), so a test can change it and reload.
Cancellations it received are counted by ``cancelled``.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

VERSION = (Path(__file__).parent / "version.txt").read_text().strip() \
    if (Path(__file__).parent / "version.txt").exists() else "0"
NAME = (Path(__file__).parent / "name.txt").read_text().strip() \
    if (Path(__file__).parent / "name.txt").exists() else "misbehaving"
out = sys.stdout.buffer
lock = threading.Lock()
cancelled: list[Any] = []
broker_answers: dict[int, Any] = {}
broker_events: dict[int, threading.Event] = {}
ids = iter(range(1, 1 << 30))


def send(message: dict[str, Any]) -> None:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    with lock:
        out.write(struct.pack(">I", len(body)) + body)
        out.flush()


def raw(data: bytes) -> None:
    with lock:
        out.write(data)
        out.flush()


def ask(method: str, params: dict[str, Any]) -> Any:
    """A request to the worker's broker; blocks this call's thread for the answer."""
    call_id = next(ids)
    event = threading.Event()
    broker_events[call_id] = event
    send({"id": call_id, "method": method, "params": params})
    event.wait(10)
    return broker_answers.pop(call_id)


def s(t: str) -> dict[str, Any]:
    return {"type": t}


METHODS = {
    "echo": ([("value", {})], {}),
    "version": ([], s("string")),
    "sleep": ([("seconds", s("number"))], s("number")),
    "fail": ([("message", s("string"))], {}),
    "garbage": ([], {}), "oversized": ([], {}), "hang": ([], {}), "exit": ([], {}),
    "flood": ([("megabytes", s("integer"))], s("integer")),
    "cancelled": ([], s("integer")),
    "read_file": ([("path", s("string"))], s("string")),
    "secret": ([("name", s("string"))], {}),
    "fetch": ([("url", s("string"))], {}),
    "pid": ([], s("integer")),
    "freeze": ([], {}),
}


def handshake() -> dict[str, Any]:
    return {"name": NAME, "version": VERSION, "protocol": 1, "methods": {
        k: {"params": [{"name": n, "schema": sc} for n, sc in ps], "returns": r}
        for k, (ps, r) in METHODS.items()}}


def run(msg: dict[str, Any]) -> None:
    method, params, call_id = msg["method"], msg.get("params") or {}, msg["id"]
    if method == "echo":
        send({"id": call_id, "result": params["value"]})
    elif method == "version":
        send({"id": call_id, "result": VERSION})
    elif method == "sleep":
        end = time.monotonic() + params["seconds"]
        while time.monotonic() < end:
            if call_id in cancelled:
                send({"id": call_id, "error": {"code": -32800, "message": "cancelled"}})
                return
            time.sleep(0.005)
        send({"id": call_id, "result": params["seconds"]})
    elif method == "fail":
        send({"id": call_id, "error": {"code": -32042, "message": params["message"]}})
    elif method == "garbage":
        body = b"this is not json"
        raw(struct.pack(">I", len(body)) + body)
    elif method == "oversized":
        raw(struct.pack(">I", 1 << 31))
    elif method == "hang":
        return
    elif method == "exit":
        os._exit(3)
    elif method == "flood":
        chunk = b"x" * 1023 + b"\n"
        for _ in range(params["megabytes"] * 1024):
            sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()
        send({"id": call_id, "result": params["megabytes"]})
    elif method == "cancelled":
        send({"id": call_id, "result": len(cancelled)})
    elif method == "read_file":
        try:
            send({"id": call_id, "result": Path(params["path"]).read_text()})
        except OSError as exc:
            send({"id": call_id, "error": {"code": -32020, "message": repr(exc)}})
    elif method in ("secret", "fetch"):
        kind = "secrets.get" if method == "secret" else "http.fetch"
        key = "name" if method == "secret" else "url"
        send({"id": call_id, "result": ask(kind, {key: params[key]})})
    elif method == "pid":
        send({"id": call_id, "result": os.getpid()})


def main() -> None:
    stdin = sys.stdin.buffer
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        msg = json.loads(stdin.read(struct.unpack(">I", head)[0]))
        if "method" not in msg:  # the broker's answer to one of our requests
            broker_answers[msg["id"]] = msg.get("result", {"error": msg.get("error")})
            broker_events.pop(msg["id"]).set()
        elif msg["method"] == "gati.handshake":
            send({"id": msg["id"], "result": handshake()})
        elif msg["method"] == "gati.ping":
            send({"id": msg["id"], "result": "pong"})
        elif msg["method"] == "gati.cancel":
            cancelled.append(msg["params"]["id"])
        elif msg["method"] == "freeze":  # hang the reader itself: not even pings answer
            time.sleep(3600)
        else:
            threading.Thread(target=run, args=(msg,), daemon=True).start()


if __name__ == "__main__":
    main()
