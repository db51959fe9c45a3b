"""The queryable projection of the log: SQLAlchemy 2 async on Postgres or SQLite.

``Store`` writes the record and reads it through one read model, ``Timeline`` and
``TimelineStep`` (``gati/store/timeline.py``), used by history, replay and every reader.
"""

from gati.store.migrate import migrate
from gati.store.store import Store, create_engine, open_store
from gati.store.timeline import Timeline, TimelineStep

__all__ = ["Store", "Timeline", "TimelineStep", "create_engine", "migrate", "open_store"]
