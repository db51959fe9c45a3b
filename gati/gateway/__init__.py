"""HTTP ingress: every request becomes a RequestEnvelope on the log."""

from gati.gateway.asgi import Gateway

__all__ = ["Gateway"]
