"""The queryable projection of the log: SQLAlchemy 2 async on Postgres or SQLite."""

from gati.store.migrate import migrate
from gati.store.store import Store, create_engine, open_store

__all__ = ["Store", "create_engine", "migrate", "open_store"]
