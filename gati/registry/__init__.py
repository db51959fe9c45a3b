"""A Confluent-compatible schema registry over Gati's frames and schema store.

So that any Kafka tool (confluent-kafka, Kafka Connect, kcat) decodes Gati's topics with
the schemas resolved by the ids the messages carry. ``docs/registry.md`` has the routes.
"""

from gati.registry.frames import FrameCatalog, FrameSchema, load_frames
from gati.registry.http import RegistryServer
from gati.registry.service import STORE_ID_BASE, Registry, RegistryError

__all__ = ["STORE_ID_BASE", "FrameCatalog", "FrameSchema", "Registry", "RegistryError",
           "RegistryServer", "load_frames"]
