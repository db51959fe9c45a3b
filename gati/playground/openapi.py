"""The playground API's OpenAPI 3.1 description, served at ``/api/openapi.json``.

Written as data next to the routes it describes (``server.py``); a test walks the
routes against it, so neither drifts from the other.
"""

from __future__ import annotations

from typing import Any

from gati.playground.filters import FILTER_FIELDS

_FILTER_HELP = {
    "since": "ISO 8601 time or an age (15m, 2h, 1d): received at or after",
    "until": "ISO 8601 time or an age: received before",
    "method": "HTTP method", "path": "substring of the path",
    "handler": "handler id", "version": "the version that served it",
    "status": "a status (404) or a class (5xx)", "error_code": "recorded error code",
    "request_id": "prefix of the request id",
    "header": "name:value of a recorded (redacted) request header",
    "body": "field.path=value of the JSON request body",
}


def _query(name: str, text: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": text,
            "schema": {"type": "string"}}


_RID = {"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}
_ERR = {"description": "a client error: {error: {status, code, message, field}}",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_OBJ = {"content": {"application/json": {"schema": {"type": "object"}}}}


def _ok(text: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    content = {"application/json": {"schema": schema or {"type": "object"}}}
    return {"200": {"description": text, "content": content}, "4XX": _ERR}


_REPLAY_BODY = {"type": "object", "additionalProperties": False, "properties": {
    "version": {"type": "string", "description": "serve with this version (label, tag)"},
    "raw": {"type": "boolean", "description": "with version: hand the request over as is"},
    "at": {"type": "integer", "minimum": 0, "description": "resume from the snapshot at step N"},
    "snapshot": {"type": "integer", "minimum": 1,
                 "description": "resume from the request's N-th snapshot (counting from 1)"},
    "body": {"description": "an edited request body (JSON value, or text): a marked replay"},
}}


_GATE_PATHS: dict[str, Any] = {
    "/api/gates": {
        "get": {"summary": "Debug gates set and requests paused at them",
                "description": "available (false without workers to steer), allowed, "
                               "gates (each with armed_on: the workers it is in force "
                               "on), workers (gate ids in force by worker) and paused "
                               "(with worker_id on Kafka workers)",
                "responses": _ok("gates and paused requests")},
        "post": {"summary": "Set a gate: {point, target, handler_id or path, header?, "
                            "debug_only?, timeout_s?}",
                 "requestBody": _OBJ, "responses": _ok("the gate")}},
    "/api/gates/{gate_id}/delete": {"post": {
        "summary": "Lift a gate",
        "parameters": [{"name": "gate_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": _ok("lifted")}},
    "/api/paused/{pause_id}": {"post": {
        "summary": "Answer a paused request: {action: resume|step|abort, set?, delete?}",
        "parameters": [{"name": "pause_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "requestBody": _OBJ, "responses": _ok("decided")}},
}


_JOB_PATHS: dict[str, Any] = {
    "/api/versions/compatibility": {"get": {
        "summary": "Does version new break old's clients? Request and response sides",
        "parameters": [_query("handler", "handler id"), _query("old", "version"),
                       _query("new", "version")],
        "responses": _ok("the report")}},
    "/api/replay/batches": {"post": {
        "summary": "Start the same batch in the background: {job_id, total}",
        "requestBody": _OBJ, "responses": _ok("the job")}},
    "/api/replay/batches/{job_id}": {"get": {
        "summary": "A batch job's progress: replayed of total, and its summary when done",
        "parameters": [{"name": "job_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": _ok("progress")}},
}


def openapi() -> dict[str, Any]:
    filters = [_query(f, _FILTER_HELP[f]) for f in FILTER_FIELDS]
    paging = [_query("cursor", "next_cursor of the previous page"),
              _query("limit", "items per page, 1 to 500 (50)")]
    return {
        "openapi": "3.1.0",
        "info": {"title": "Gati playground API", "version": "1",
                 "description": "The record of every request, its replay and version diff. "
                                "POST calls need the header X-Gati-Playground: 1."},
        "paths": {
            "/api/requests": {"get": {
                "summary": "List and search requests, newest first (cursor paging)",
                "parameters": filters + paging,
                "responses": _ok("a page", {"$ref": "#/components/schemas/Page"})}},
            "/api/requests/{request_id}": {"get": {
                "summary": "One request's record, redacted as recorded",
                "parameters": [_RID], "responses": _ok("the record")}},
            "/api/requests/{request_id}/export": {"get": {
                "summary": "The whole record as one JSON file (format gati.record)",
                "parameters": [_RID], "responses": _ok("the file")}},
            "/api/requests/{request_id}/replay": {"post": {
                "summary": "Replay as recorded, against a version, from a snapshot, or "
                           "with an edited body; never recorded as traffic",
                "parameters": [_RID],
                "requestBody": {"content": {"application/json": {"schema": _REPLAY_BODY}}},
                "responses": _ok("the replay's result")}},
            "/api/import": {"post": {
                "summary": "Replay an exported file offline (the store is not read)",
                "parameters": [_query("version", "replay against this version")],
                "requestBody": _OBJ, "responses": _ok("the replay's result")}},
            "/api/replay/batch": {"post": {
                "summary": "Replay a time window against a version; a summary",
                "requestBody": _OBJ, "responses": _ok("the summary")}},
            "/api/versions": {"get": {
                "summary": "Timescape's handler versions: tags, status, usage",
                "parameters": [_query("handler", "only this handler id")],
                "responses": _ok("versions", {"type": "array", "items": {"type": "object"}})}},
            "/api/tail": {"get": {
                "summary": "Server-sent events: each new request matching the filters",
                "parameters": filters,
                "responses": {"200": {"description": "event: request, data: a list item",
                                      "content": {"text/event-stream": {}}}}}},
            **_JOB_PATHS,
            **_GATE_PATHS,
            "/api/openapi.json": {"get": {"summary": "This document",
                                          "responses": _ok("OpenAPI 3.1")}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "object",
                      "properties": {"status": {"type": "integer"}, "code": {"type": "string"},
                                     "message": {"type": "string"},
                                     "field": {"type": "string"}}}}},
            "Page": {"type": "object", "properties": {
                "items": {"type": "array", "items": {"type": "object"}},
                "next_cursor": {"type": ["string", "null"]},
                "scanned": {"type": "integer"}, "truncated": {"type": "boolean"}}},
        }},
    }
