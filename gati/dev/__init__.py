"""``gati dev``: the whole system in one process on the embedded backends."""
