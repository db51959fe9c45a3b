"""The pure core: envelopes, routing, the app model and the request pipeline.

Nothing here does I/O or imports Kafka, SQLAlchemy or an ASGI server (a test enforces
it); adapters in the sibling packages depend on this, never the other way round.
"""
