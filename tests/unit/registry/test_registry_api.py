"""The registry API answers as Confluent's does: bodies, ids, status codes, error codes."""

from __future__ import annotations

import json
from typing import Any

import httpx

from gati.registry import STORE_ID_BASE

CT = "application/vnd.schemaregistry.v1+json"
V1 = {"type": "record", "name": "Order", "namespace": "acme",
      "fields": [{"name": "id", "type": "string"}]}
V2 = {**V1, "fields": [*V1["fields"], {"name": "note", "type": "string", "default": ""}]}
BREAKS = {**V1, "fields": [{"name": "id", "type": "long"}]}


def _body(schema: Any) -> dict[str, str]:
    return {"schema": json.dumps(schema)}


def _error(response: httpx.Response, status: int, code: int) -> str:
    assert (response.status_code, response.json()["error_code"]) == (status, code), response.text
    assert response.headers["content-type"] == CT
    return str(response.json()["message"])


async def test_a_frame_id_serves_the_envelope_schema(client: httpx.AsyncClient) -> None:
    response = await client.get("/schemas/ids/9", params={"subject": "gati.requests-value"})
    assert response.status_code == 200
    assert response.headers["content-type"] == CT
    assert json.loads(response.json()["schema"])["name"] == "RequestEnvelope"
    latest = (await client.get("/subjects/gati.requests-value/versions/latest")).json()
    assert (latest["id"], latest["version"]) == (10, 5)  # v5: the trace context


async def test_register_evolve_and_read_back(client: httpx.AsyncClient,
                                             auth: dict[str, str]) -> None:
    first = await client.post("/subjects/orders-value/versions", json=_body(V1), headers=auth)
    second = await client.post("/subjects/orders-value/versions", json=_body(V2), headers=auth)
    again = await client.post("/subjects/orders-value/versions", json=_body(V1), headers=auth)
    ids = [r.json()["id"] for r in (first, second, again)]
    assert ids[0] > STORE_ID_BASE and ids[1] > ids[0] and ids[2] == ids[0]
    assert (await client.get("/subjects/orders-value/versions")).json() == [1, 2]
    assert json.loads((await client.get(f"/schemas/ids/{ids[1]}")).json()["schema"]) == V2
    found = (await client.post("/subjects/orders-value", json=_body(V2))).json()
    assert (found["id"], found["version"]) == (ids[1], 2)
    assert "orders-value" in (await client.get("/subjects")).json()


async def test_unknowns_get_confluents_not_found_codes(client: httpx.AsyncClient,
                                                       auth: dict[str, str]) -> None:
    _error(await client.get("/schemas/ids/424242"), 404, 40403)
    _error(await client.get("/schemas/ids/11"), 404, 40403)
    _error(await client.get("/subjects/nope/versions"), 404, 40401)
    _error(await client.get("/subjects/nope/versions/1"), 404, 40401)
    await client.post("/subjects/orders-value/versions", json=_body(V1), headers=auth)
    _error(await client.get("/subjects/orders-value/versions/7"), 404, 40402)
    _error(await client.get("/subjects/orders-value/versions/zero"), 422, 42202)
    _error(await client.post("/subjects/orders-value", json=_body(V2)), 404, 40403)


async def test_invalid_schemas_get_42201(client: httpx.AsyncClient,
                                         auth: dict[str, str]) -> None:
    post = "/subjects/orders-value/versions"
    message = _error(await client.post(post, json={"schema": "{not json"}, headers=auth),
                     422, 42201)
    assert "Invalid schema" in message
    _error(await client.post(post, json=_body({"type": "record", "name": "X"}), headers=auth),
           422, 42201)
    _error(await client.post(post, json={**_body(V1), "schemaType": "PROTOBUF"}, headers=auth),
           422, 42201)
    _error(await client.post(post, content=b"[1]", headers=auth), 400, 400)
    assert (await client.get("/subjects")).json().count("orders-value") == 0


async def test_an_incompatible_version_is_409_and_the_check_says_why(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await client.post("/subjects/orders-value/versions", json=_body(V1), headers=auth)
    message = _error(await client.post("/subjects/orders-value/versions", json=_body(BREAKS),
                                       headers=auth), 409, 409)
    assert "incompatible" in message
    check = await client.post("/compatibility/subjects/orders-value/versions/latest",
                              params={"verbose": "true"}, json=_body(BREAKS))
    assert check.json()["is_compatible"] is False and check.json()["messages"]
    ok = await client.post("/compatibility/subjects/orders-value/versions/1", json=_body(V2))
    assert ok.json() == {"is_compatible": True}
    _error(await client.post("/compatibility/subjects/orders-value/versions/3",
                             json=_body(V2)), 404, 40402)
    assert (await client.get("/subjects/orders-value/versions")).json() == [1]


async def test_config_sets_the_level_registration_checks(client: httpx.AsyncClient,
                                                         auth: dict[str, str]) -> None:
    assert (await client.get("/config")).json() == {"compatibilityLevel": "BACKWARD"}
    _error(await client.get("/config/orders-value"), 404, 40408)
    assert (await client.get("/config/orders-value", params={"defaultToGlobal": "true"})
            ).json() == {"compatibilityLevel": "BACKWARD"}
    _error(await client.put("/config/orders-value", json={"compatibility": "SIDEWAYS"},
                            headers=auth), 422, 42203)
    put = await client.put("/config/orders-value", json={"compatibility": "NONE"}, headers=auth)
    assert put.json() == {"compatibility": "NONE"}
    await client.post("/subjects/orders-value/versions", json=_body(V1), headers=auth)
    breaking = await client.post("/subjects/orders-value/versions", json=_body(BREAKS),
                                 headers=auth)
    assert breaking.status_code == 200  # NONE lets a breaking version in, as asked


async def test_transitive_levels_check_every_version(client: httpx.AsyncClient,
                                                     auth: dict[str, str]) -> None:
    post = "/subjects/t-value/versions"
    await client.put("/config/t-value", json={"compatibility": "NONE"}, headers=auth)
    for schema in (V1, BREAKS):
        assert (await client.post(post, json=_body(schema), headers=auth)).status_code == 200
    back = {**BREAKS, "fields": [*BREAKS["fields"], {"name": "n", "type": "int", "default": 0}]}
    await client.put("/config/t-value", json={"compatibility": "BACKWARD_TRANSITIVE"},
                     headers=auth)
    message = _error(await client.post(post, json=_body(back), headers=auth), 409, 409)
    assert "version 1" in message  # compatible with the latest, not with version 1


async def test_writes_need_the_token(client: httpx.AsyncClient) -> None:
    post = "/subjects/orders-value/versions"
    _error(await client.post(post, json=_body(V1)), 401, 40101)
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    response = await client.post(post, json=_body(V1), headers=wrong)
    _error(response, 401, 40101)
    assert "www-authenticate" in response.headers
    _error(await client.put("/config", json={"compatibility": "NONE"}), 401, 40101)
    basic = await client.post(post, json=_body(V1),
                              auth=("anyone", "registry-token-0123456789"))
    assert basic.status_code == 200  # the token as Basic password: basic.auth.user.info


async def test_gatis_own_subjects_are_read_only(client: httpx.AsyncClient,
                                                auth: dict[str, str]) -> None:
    served = (await client.get("/subjects/gati.requests-value/versions/latest")).json()
    again = await client.post("/subjects/gati.requests-value/versions",
                              json={"schema": served["schema"]}, headers=auth)
    assert again.json() == {"id": 10}  # registering what frames carry answers their id
    _error(await client.post("/subjects/gati.requests-value/versions", json=_body(V1),
                             headers=auth), 422, 42205)
