"""``gati dev`` serves the registry under /_gati/registry and the app's /openapi.json."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from support import GATI, ROOT, DevSystem, start_system

from gati.registry import STORE_ID_BASE

pytestmark = pytest.mark.timeout(180)
TOKEN = "dev-registry-token-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevSystem]:
    tmp: Path = tmp_path_factory.mktemp("registry-dev")
    s = start_system("embedded", tmp, request, GATI_REGISTRY_TOKEN=TOKEN)
    assert isinstance(s, DevSystem)
    yield s
    s.stop()


def test_the_registry_answers_beside_the_app(system: DevSystem) -> None:
    url = f"{system.base_url}/_gati/registry"
    reader = SchemaRegistryClient({"url": url})
    assert json.loads(reader.get_schema(9).schema_str)["name"] == "RequestEnvelope"
    assert "gati.requests-value" in reader.get_subjects()
    writer = SchemaRegistryClient({"url": url, "basic.auth.user.info": f"dev:{TOKEN}"})
    schema = Schema('{"type": "record", "name": "Ping", "fields": []}', "AVRO")
    assert writer.register_schema("ping-value", schema) > STORE_ID_BASE
    refused = httpx.post(f"{url}/subjects/ping-value/versions", json={"schema": "{}"})
    assert (refused.status_code, refused.json()["error_code"]) == (401, 40101)


def test_openapi_json_is_served_by_gati_dev(system: DevSystem) -> None:
    served = httpx.get(f"{system.base_url}/openapi.json", timeout=30).json()
    printed = subprocess.run([GATI, "codegen", "openapi", system.app], cwd=ROOT,
                             env=system.env, capture_output=True, text=True, check=True,
                             timeout=60).stdout
    assert served == json.loads(printed)
    assert httpx.get(f"{system.base_url}/docs", timeout=30).status_code == 200
