"""Runs handlers: consumes RequestEnvelopes, produces replies and lifecycle events."""

from gati.worker.processor import Processor
from gati.worker.runtime import WorkerRuntime

__all__ = ["Processor", "WorkerRuntime"]
