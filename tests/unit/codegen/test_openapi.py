"""``gati codegen openapi``: a valid OpenAPI 3.1 document that says what Gati answers."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from click.testing import CliRunner
from codegen_apps import app as kinds_app
from codegen_apps import versions_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gati.cli.main import cli
from gati.codegen import openapi_document
from gati.codegen._api import TypeIndex
from gati.codegen._jsonschema import component_schema, schema_of
from gati.manifest import build_manifest
from gati.types import GType, compile_validator

pytestmark = pytest.mark.timeout(120)
ERRORS = {"400", "404", "405", "413", "500", "503", "504"}


def _doc(app: Any = kinds_app, **kw: Any) -> dict[str, Any]:
    return openapi_document(build_manifest(app), **kw)


def test_documents_are_valid_openapi_3_1() -> None:
    from examples.typed_users.app import app as typed

    for app in (kinds_app, versions_app(), typed):
        doc = _doc(app)
        assert doc["openapi"] == "3.1.0"
        schemathesis.openapi.from_dict(doc).validate()  # the 3.1 meta-schema


def test_every_operation_documents_version_errors_and_request_id() -> None:
    doc = _doc()
    ops = [(path, method, op) for path, item in doc["paths"].items()
           for method, op in item.items()]
    assert {(p, m) for p, m, _ in ops} == {
        ("/things/{thing_id}/parts/{part}", "post"), ("/things", "get"),
        ("/things/{thing_id}", "delete"), ("/raw", "get"), ("/maybe", "get"),
    }
    for _path, _method, op in ops:
        refs = [p.get("$ref") for p in op["parameters"]]
        assert "#/components/parameters/GatiVersionHeader" in refs
        assert "#/components/parameters/GatiVersionQuery" in refs
        assert set(op["responses"]) >= ERRORS
        for status, response in op["responses"].items():
            assert response["headers"]["X-Request-Id"] == {
                "$ref": "#/components/headers/RequestId"}
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/GatiErrorBody"}
        assert "Retry-After" in op["responses"]["503"]["headers"]
        assert "Allow" in op["responses"]["405"]["headers"]
    params = doc["components"]["parameters"]
    assert params["GatiVersionHeader"]["name"] == "X-Gati-Version"
    assert params["GatiVersionQuery"] == {**params["GatiVersionQuery"], "in": "query",
                                          "name": "version"}
    issue = doc["components"]["schemas"]["ValidationIssue"]
    assert issue["required"] == ["path", "expected", "actual", "code"]
    assert doc["components"]["schemas"]["GatiError"]["properties"]["issues"]["items"] == {
        "$ref": "#/components/schemas/ValidationIssue"}


def test_paths_bodies_and_statuses() -> None:
    doc = _doc()
    put = doc["paths"]["/things/{thing_id}/parts/{part}"]["post"]
    assert put["operationId"] == "put_thing" and put["summary"] == "Store one of everything."
    path_params = [(p["name"], p["schema"]) for p in put["parameters"] if p.get("in") == "path"]
    assert path_params == [("thing_id", {"type": "string"}), ("part", {"type": "integer"})]
    assert [p["name"] for p in put["parameters"] if p.get("in") == "query"] == ["fail"]
    assert put["requestBody"]["required"] is True
    assert put["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Everything"}
    assert "201" in put["responses"] and "200" not in put["responses"]
    assert "declared by the handler: failed_on_purpose" in put["responses"]["422"]["description"]
    delete = doc["paths"]["/things/{thing_id}"]["delete"]
    assert "content" not in delete["responses"]["204"]
    maybe = doc["paths"]["/maybe"]["get"]
    assert {"200", "204"} <= set(maybe["responses"])
    listing = doc["paths"]["/things"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listing["schema"] == {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}}
    assert put["x-gati-handler-id"].endswith("put_thing")


def test_component_schemas_follow_the_gtypes() -> None:
    schemas = _doc()["components"]["schemas"]
    every = schemas["Everything"]
    props = every["properties"]
    assert props["name"] == {"type": "string", "minLength": 1, "maxLength": 20,
                             "pattern": "^[a-z]+$"}
    assert props["count"] == {"type": "integer", "minimum": 0, "maximum": 10}
    assert props["color"] == {"enum": ["red", "green"], "type": "string", "title": "Color"}
    assert props["shape"] == {"anyOf": [{"$ref": "#/components/schemas/Circle"},
                                        {"$ref": "#/components/schemas/Square"}]}
    assert props["when"] == {"type": "string", "format": "date-time"}
    assert props["day"] == {"type": "string", "format": "date"}
    assert props["blob"] == {"type": "string", "contentEncoding": "base64"}
    assert props["scores"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["anything"] == {}
    assert props["maybe"] == {"anyOf": [{"$ref": "#/components/schemas/Point"},
                                        {"type": "null"}]}
    assert props["optional_count"]["default"] == 3
    assert "optional_note" not in every["required"] and "name" in every["required"]
    assert schemas["Tree"]["properties"]["children"]["items"] == {
        "$ref": "#/components/schemas/Tree"}
    assert set(schemas["Keywords"]["properties"]) == {"from", "class", "async"}


def test_same_name_two_shapes_and_version_selection() -> None:
    latest = _doc(versions_app())
    schemas = latest["components"]["schemas"]
    assert set(schemas["User"]["properties"]) == {"first", "last"}
    assert set(schemas["User_2"]["properties"]) == {"name"}
    op = latest["paths"]["/user"]["get"]
    assert op["x-gati-version"] == "2025-01-01" and "x-gati-pinned-version" not in op
    assert op["x-gati-versions"] == ["2024-01-01 (v1)", "2025-01-01 (v2)"]
    v1 = _doc(versions_app(), version="v1")["paths"]["/user"]["get"]
    assert v1["x-gati-version"] == "2024-01-01" and v1["x-gati-pinned-version"] == "2024-01-01"
    by_date = _doc(versions_app(), version="2024-06-30")["paths"]["/user"]["get"]
    assert by_date["x-gati-version"] == "2024-01-01"
    assert by_date["x-gati-pinned-version"] == "2024-06-30"


def test_cli_prints_and_writes(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(cli, ["codegen", "openapi", "examples.typed_users.app:app"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output)["info"]["title"] == "typed_users"
    out = tmp_path / "openapi.json"
    written = runner.invoke(cli, ["codegen", "openapi", "examples.typed_users.app:app",
                                  "--out", str(out)])
    assert written.exit_code == 0 and json.loads(out.read_text())["openapi"] == "3.1.0"
    for kind in ("python", "typescript"):
        result = runner.invoke(cli, ["codegen", kind, "examples.typed_users.app:app",
                                     "--out", str(tmp_path / kind)])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "python" / "client.py").exists()
    assert (tmp_path / "typescript" / "client.ts").exists()


# -- the JSON Schemas accept what Gati's validators accept ------------------------------

def _strategies() -> Any:
    path = Path(__file__).parents[1] / "types" / "_gtype_strategies.py"
    spec = importlib.util.spec_from_file_location("gati_test_gtype_strategies", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


STRATEGIES = _strategies()


def _validator(t: GType) -> Any:
    index = TypeIndex()
    index.collect(t)
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": {"schemas": {cid: component_schema(index, cid)
                                   for cid in index.components}},
        **schema_of(t, index),
    }
    return jsonschema_rs.validator_for(root)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_what_gati_accepts_the_json_schema_accepts(data: st.DataObject) -> None:
    t = data.draw(STRATEGIES.GTYPES)
    gati = compile_validator(t)
    schema = _validator(t)
    for value in itertools.islice(iter(lambda: data.draw(STRATEGIES.values(t)), None), 3):
        if not gati(value):
            assert schema.is_valid(value), (t.to_json(), value)
