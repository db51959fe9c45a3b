"""Avro on the wire: framed with a schema id, decoded only from ids allowed on a topic."""

from gati.codec.avro import AvroCodec, SchemaRegistry, default_registry
from gati.codec.envelopes import EnvelopeCodec

__all__ = ["AvroCodec", "EnvelopeCodec", "SchemaRegistry", "default_registry"]
