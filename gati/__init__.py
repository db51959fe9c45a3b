"""Gati: every HTTP request is an event.

The public surface for handler authors; everything else lives in the role packages
(``gati.gateway``, ``gati.worker``, ``gati.recorder``, ``gati.store``, ...).
"""

from gati.core.app import App, HandlerFunc
from gati.core.context import GlobalContext, LocalContext
from gati.core.http import Request, Response
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
]
