"""The running app describes itself: ``/openapi.json`` and an interactive docs page.

FastAPI users expect both on the app's own port; the document is the one
``gati codegen openapi`` prints (per version), the page is Swagger UI served from the
``swagger-ui-py`` package, so it works offline.
"""

from gati.apidocs.asgi import DOCS_PATH, OPENAPI_PATH, SelfDescribed

__all__ = ["DOCS_PATH", "OPENAPI_PATH", "SelfDescribed"]
