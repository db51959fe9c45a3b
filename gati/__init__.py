"""Gati: every HTTP request is an event.

The public surface for handler authors; everything else lives in the role packages
(``gati.gateway``, ``gati.worker``, ``gati.recorder``, ``gati.store``, ...).
"""

from gati.core.app import App, HandlerFunc
from gati.core.context import GlobalContext, LocalContext, SecretNotFound
from gati.core.hooks import hook
from gati.core.http import Request, Response
from gati.core.redact import Secret
from gati.errors import GatiError, RequestError

__all__ = [
    "App",
    "GatiError",
    "GlobalContext",
    "HandlerFunc",
    "LocalContext",
    "Request",
    "RequestError",
    "Response",
    "Secret",
    "SecretNotFound",
    "hook",
]
