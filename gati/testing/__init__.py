"""Testing tools for Gati apps: handlers under test without Kafka or a database.

- ``GatiTestClient``: requests through the real pipeline (routing, hooks, timeouts,
  effects), with scripted modules, dict secrets, a fixed clock and a seeded random
  source; each request returns a ``Result`` with the response and its record.
- ``invoke``: one handler function called directly with a real lctx / gctx.
- ``FixedClock``: the deterministic clock both use.
- The pytest plugin ``gati.testing.pytest_plugin`` (fixtures ``gati_client``,
  ``gati_clock``, ``gati_simulation``; marker ``gati``).
"""

from gati.testing._client import GatiTestClient, SyncGatiTestClient
from gati.testing._clock import DEFAULT_START_US, FixedClock
from gati.testing._invoke import invoke
from gati.testing._requests import RequestOptions, make_request
from gati.testing._result import Effect, Invocation, LogLine, Result
from gati.testing._scripts import (
    Returns,
    ScriptedCall,
    ScriptedModule,
    ScriptError,
    ScriptExhausted,
    UnscriptedCall,
    returns,
)
from gati.testing._services import DictSecrets

__all__ = [
    "DEFAULT_START_US",
    "DictSecrets",
    "Effect",
    "FixedClock",
    "GatiTestClient",
    "Invocation",
    "LogLine",
    "RequestOptions",
    "Result",
    "Returns",
    "ScriptError",
    "ScriptExhausted",
    "ScriptedCall",
    "ScriptedModule",
    "SyncGatiTestClient",
    "UnscriptedCall",
    "invoke",
    "make_request",
    "returns",
]
