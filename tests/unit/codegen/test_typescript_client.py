"""The generated TypeScript client: ``tsc --strict`` clean, and it behaves under node."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from codegen_apps import app as kinds_app
from codegen_apps import versions_app
from codegen_tools import node, tsc_build, tsc_check, write

from gati.codegen import typescript_client
from gati.manifest import build_manifest

pytestmark = pytest.mark.timeout(300)

# Uses the generated types the way an application would; must type-check too.
USAGE = """
import { Client, GatiApiError, PINNED } from "./client.js";
import type { Everything, Tree } from "./types.js";

const tree: Tree = { label: "root", children: [{ label: "leaf" }] };
const value: Everything = {
  name: "abc", count: 1, ratio: 0.5, flag: true, color: "green", level: 1, mode: true,
  shape: { center: { x: 0, y: 0 }, radius: 1 }, scalar: 3, when: "2025-01-01T00:00:00Z",
  day: "2025-01-01", blob: "", email: "a@b.co", tags: [], scores: {}, nested: [],
  tree, words: { from: "f", class: 1, async: false }, anything: null, maybe: null,
};

const calls: Array<{ url: string; init: RequestInit }> = [];
const fakeFetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
  calls.push({ url: String(url), init: init ?? {} });
  if (String(url).includes("fail=1")) {
    return new Response(JSON.stringify({ error: { status: 422, code: "failed_on_purpose",
      message: "asked to fail", request_id: "r1" } }),
      { status: 422, headers: { "content-type": "application/json", "x-request-id": "r1" } });
  }
  if ((init?.method ?? "GET") === "DELETE") {
    return new Response(null, { status: 204 });
  }
  return new Response(typeof init?.body === "string" ? init.body : "[]",
    { status: 201, headers: { "content-type": "application/json" } });
};

const api = new Client("http://api.test/", { fetch: fakeFetch, headers: { "x-a": "1" } });
const back: Everything = await api.putThing("a b/c", 7, value, { fail: "0" });
const trees: Tree[] = await api.listThings({ version: "v9" });
await api.deleteThing("x");
let code: string | null = null;
try {
  await api.putThing("t", 1, value, { fail: "1" });
} catch (err) {
  if (err instanceof GatiApiError) {
    code = `${err.status} ${err.code} ${err.requestId}`;
  }
}
console.log(JSON.stringify({
  back: back.name, trees: trees.length, code, pinned: PINNED,
  urls: calls.map((c) => c.url),
  versions: calls.map((c) => (c.init.headers as { [k: string]: string })["X-Gati-Version"] ?? null),
  headerA: (calls[0].init.headers as { [k: string]: string })["x-a"],
}));
"""


def test_generated_typescript_passes_tsc_strict(tmp_path: Path) -> None:
    from examples.typed_users.app import app as typed

    for name, files in (
        ("kinds", typescript_client(build_manifest(kinds_app))),
        ("typed", typescript_client(build_manifest(typed))),
        ("pinned", typescript_client(build_manifest(versions_app()), version="v1")),
    ):
        directory = write(files, tmp_path / name)
        result = tsc_check(directory)
        assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"


def test_generated_client_runs_under_node(tmp_path: Path) -> None:
    directory = write(typescript_client(build_manifest(kinds_app)), tmp_path / "src")
    (directory / "usage.ts").write_text(USAGE)
    built = tsc_build(directory, tmp_path / "out")
    assert built.returncode == 0, built.stdout + built.stderr
    run = subprocess.run([node(), str(tmp_path / "out" / "usage.js")], capture_output=True,
                         text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["back"] == "abc" and result["trees"] == 0
    assert result["code"] == "422 failed_on_purpose r1"
    assert result["pinned"] == {}
    assert result["urls"][:3] == [
        "http://api.test/things/a%20b%2Fc/parts/7?fail=0",
        "http://api.test/things",
        "http://api.test/things/x",
    ]
    assert result["versions"][:2] == [None, "v9"]
    assert result["headerA"] == "1"


def test_pinned_versions_are_generated(tmp_path: Path) -> None:
    files = typescript_client(build_manifest(versions_app()), version="v1")
    assert 'export const PINNED: { [operation: string]: string } = {"get_user": "2024-01-01"}' \
        in files["client.ts"]
    assert "export interface User {\n  name: string;\n}" in files["types.ts"]
    latest = typescript_client(build_manifest(versions_app()))
    assert "export interface User {\n  first: string;\n  last: string;\n}" in latest["types.ts"]
    assert "export interface User_2 {\n  name: string;\n}" in latest["types.ts"]
