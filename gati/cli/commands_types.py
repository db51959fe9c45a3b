"""``gati manifest``, ``gati schemas``, ``gati codegen``, ``gati contracts``: types as contracts.

Each command imports the app (``module:attr`` or a file), builds its manifest with
``gati.manifest.build_manifest`` and derives the rest from it. Exit status: 0 done,
1 the contract check or a schema registration found a problem (the report is printed),
2 a usage or configuration error (one line on stderr).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from gati.errors import GatiError
from gati.manifest import AppManifest

T = TypeVar("T")
_VERSION_HELP = ("Generate each handler's version with this label, tag or date (and pin the "
                 "client to it); default: the latest.")


def _guarded(fn: Callable[..., T]) -> Callable[..., T]:
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except GatiError as exc:
            click.echo(f"gati: {exc.message}", err=True)
            sys.exit(2)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _manifest(app: str) -> AppManifest:
    from gati.cli.loader import load_app
    from gati.manifest import build_manifest

    return build_manifest(load_app(app))


def _emit(text: str, out: str | None) -> None:
    if out is None:
        click.echo(text)
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    click.echo(f"wrote {path}", err=True)


def _write_files(files: dict[str, str], out: str) -> None:
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items()):
        (directory / name).write_text(text)
        click.echo(f"wrote {directory / name}", err=True)


@click.command(name="manifest")
@click.argument("app")
@click.option("--out", default=None, metavar="FILE", help="Write to FILE instead of stdout.")
@_guarded
def manifest_cmd(app: str, out: str | None) -> None:
    """Print APP's manifest: handlers, versions, types, hooks, modules (JSON)."""
    _emit(_manifest(app).dumps(), out)


@click.command(name="schemas")
@click.argument("app")
@click.option("--out", default=None, metavar="DIR",
              help="Where the .avsc files go. [default: schemas/avro/<app name>]")
@click.option("--register", is_flag=True,
              help="Also register them in the schema store at GATI_DATABASE_URL.")
@click.option("--mode", type=click.Choice(["auto", "backward", "forward", "full", "none"]),
              default="auto", show_default=True,
              help="Compatibility checked on --register; auto: backward for requests, "
              "forward for responses.")
@_guarded
def schemas_cmd(app: str, out: str | None, register: bool, mode: str) -> None:
    """Write APP's request/response types as Avro schemas; optionally register them.

    Each handler version is a subject; a change to a registered version that breaks its
    compatibility mode exits 1 with the report. Breaking changes between Timescape
    versions are reported (with the fields) and allowed: old clients keep their version.
    """
    from gati.codegen.avro import avro_schemas

    manifest = _manifest(app)
    files = avro_schemas(manifest)
    directory = Path(out or f"schemas/avro/{manifest.app}")
    _write_files({f.filename: json.dumps(f.schema, indent=2) + "\n" for f in files},
                 str(directory))
    if not register:
        return
    from gati import config as gati_config
    from gati.store.schemas import SchemaIncompatible, SchemaStore
    from gati.store.store import open_store

    async def main() -> int:
        store = await open_store(gati_config.from_env().database_url)
        try:
            registry = SchemaStore(store.engine)
            for f in files:
                try:
                    schema_id, version = await registry.register(
                        f.subject, f.schema, f.mode if mode == "auto" else mode)
                except SchemaIncompatible as exc:
                    click.echo(f"{f.subject}: {f.version} REFUSED\n{exc.message}")
                    return 1
                click.echo(f"{f.subject} v{version} id={schema_id} ({f.handler_id} {f.version})")
            for line in _across_versions(files, mode):
                click.echo(line)
            return 0
        finally:
            await store.close()

    sys.exit(asyncio.run(main()))


def _across_versions(files: list[Any], mode: str) -> list[str]:
    """How each Timescape version's types compare with the previous version's."""
    from gati.store.schemas import avro_changes
    from gati.types import check_compatibility

    lines: list[str] = []
    previous: dict[tuple[str, str], Any] = {}
    for f in files:  # oldest version first within each handler
        key = (f.handler_id, f.side)
        before = previous.get(key)
        previous[key] = f
        if before is None:
            continue
        checked = f.mode if mode in ("auto", "none") else mode
        report = check_compatibility(before.schema, f.schema, checked)  # type: ignore[arg-type]
        changes = [c for c in avro_changes(before.schema, f.schema) if "record renamed" not in c]
        if report.compatible or not changes:
            continue  # a renamed record alone breaks no JSON client (docs/decisions.md)
        lines.append(f"{f.handler_id} {f.side} {before.version} -> {f.version}: BREAKING "
                     f"({checked}); a new Timescape version, so allowed: clients of "
                     f"{before.version} keep it, or get it through transformers")
        lines.extend(f"    {c}" for c in changes)
    return lines


@click.group(name="codegen")
def codegen() -> None:
    """Generate an OpenAPI document or typed clients from an app's manifest."""


@codegen.command(name="openapi")
@click.argument("app")
@click.option("--out", default=None, metavar="FILE", help="Write to FILE instead of stdout.")
@click.option("--version", "version", default=None, help=_VERSION_HELP)
@_guarded
def codegen_openapi(app: str, out: str | None, version: str | None) -> None:
    """OpenAPI 3.1 (JSON) of APP."""
    from gati.codegen import openapi_document

    _emit(json.dumps(openapi_document(_manifest(app), version=version), indent=2), out)


@codegen.command(name="python")
@click.argument("app")
@click.option("--out", required=True, metavar="DIR", help="The package directory to write.")
@click.option("--version", "version", default=None, help=_VERSION_HELP)
@_guarded
def codegen_python(app: str, out: str, version: str | None) -> None:
    """A typed async Python client (httpx) for APP, as a package in DIR."""
    from gati.codegen import python_client

    _write_files(python_client(_manifest(app), version=version), out)


@codegen.command(name="typescript")
@click.argument("app")
@click.option("--out", required=True, metavar="DIR", help="The directory to write.")
@click.option("--version", "version", default=None, help=_VERSION_HELP)
@_guarded
def codegen_typescript(app: str, out: str, version: str | None) -> None:
    """A fetch client with type definitions for APP (client.ts, types.ts, index.ts)."""
    from gati.codegen import typescript_client

    _write_files(typescript_client(_manifest(app), version=version), out)


@click.group(name="contracts")
def contracts() -> None:
    """Check that handlers and the modules they call agree."""


@contracts.command(name="check")
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_guarded
def contracts_check(app: str, as_json: bool) -> None:
    """Each module method a handler calls exists and the call's arguments fit it.

    Exits 1 on a mismatch.
    """
    from dataclasses import asdict

    from gati.manifest import check_contracts

    report = check_contracts(_manifest(app))
    if as_json:
        click.echo(json.dumps({"ok": report.ok, "checked": report.checked,
                               "issues": [asdict(i) for i in report.issues]}, indent=2))
    else:
        click.echo(report.render())
    if not report.ok:
        sys.exit(1)


def register_type_commands(group: click.Group) -> None:
    """Add this module's commands to the ``gati`` group."""
    for command in (manifest_cmd, schemas_cmd, codegen, contracts):
        group.add_command(command)
