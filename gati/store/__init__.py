"""The queryable projection of the log: SQLAlchemy 2 async on Postgres or SQLite."""

from gati.store.migrate import migrate
from gati.store.store import Store, open_store

__all__ = ["Store", "migrate", "open_store"]
