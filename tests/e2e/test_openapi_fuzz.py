"""Schemathesis against the generated OpenAPI of the typed example, through the gateway.

Bodies, path and query parameters and the version header are generated from the
document ``gati codegen openapi`` makes; every answer must be a documented status (none
5xx) with a body, content type and headers that match the document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support import System, start_system

from gati.codegen import openapi_document
from gati.manifest import build_manifest

pytestmark = pytest.mark.timeout(120)
APP = "examples.typed_users.app:app"
EXAMPLES_PER_OPERATION = 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    s = start_system(request.param, tmp, request, app=APP)
    yield s
    s.stop()


def test_generated_requests_get_only_documented_answers(system: System) -> None:
    from examples.typed_users.app import app

    document = openapi_document(build_manifest(app))
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()
    seen: dict[str, Counter[int]] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5
    for operation in operations:
        documented = {int(s) for s in
                      document["paths"][operation.path][operation.method.lower()]["responses"]}
        _fuzz(operation, documented, seen.setdefault(operation.label, Counter()),
              system.base_url)
    # It exercised the handlers, not only the error paths.
    assert seen["POST /users"][201] > 0, seen
    assert seen["GET /users"][200] > 0, seen
    assert sum(sum(c.values()) for c in seen.values()) >= 5 * 10, seen


def _fuzz(operation: Any, documented: set[int], statuses: Counter[int], base_url: str) -> None:
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=operation.as_strategy())
    def exercise(case: Any) -> None:
        response = case.call(base_url=base_url, timeout=30)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (case.as_curl_command(), response.text)
        assert response.status_code in documented, (case.as_curl_command(), response.text)
        case.validate_response(response, checks=CHECKS)

    exercise()
