"""Deterministic replay: re-run any recorded request, against any version."""

from gati.replay.ledger import Divergence, ReplayedModuleError
from gati.replay.record import RecordedRequest, ReplayError
from gati.replay.replayer import BatchResult, Replayer, ReplayResult

__all__ = [
    "BatchResult",
    "Divergence",
    "RecordedRequest",
    "ReplayError",
    "ReplayResult",
    "ReplayedModuleError",
    "Replayer",
]
