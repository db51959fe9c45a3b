"""The playground: a JSON API over the record (and replay), and a page that uses it.

``gati playground`` serves it on its own; ``gati dev`` serves it beside the app. The
page is one client of the API (``/api/...``, described at ``/api/openapi.json``); the
tests and anyone's scripts are others.
"""

from gati.playground.server import PlaygroundServer, playground_url
from gati.playground.service import Playground

__all__ = ["Playground", "PlaygroundServer", "playground_url"]
