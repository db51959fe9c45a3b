"""Consumes the request and lifecycle topics and projects them into the store."""

from gati.recorder.recorder import Recorder

__all__ = ["Recorder"]
