"""Code from contracts: OpenAPI, typed Python and TypeScript clients, Avro schema files.

Every generator reads an ``AppManifest`` (``gati.manifest.build_manifest``), never the
app's code, so what is generated is exactly what the manifest records. Pure: the
generators return text; writing files is the caller's business (``gati codegen``).
"""

from gati.codegen.avro import AvroSchemaFile, avro_schemas
from gati.codegen.openapi import openapi_document
from gati.codegen.python import python_client
from gati.codegen.typescript import typescript_client

__all__ = [
    "AvroSchemaFile",
    "avro_schemas",
    "openapi_document",
    "python_client",
    "typescript_client",
]
