"""``gati modules``: check a module against the protocol, list an app's, ask for a reload."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import click


@click.group()
def modules() -> None:
    """Out-of-process modules (docs/module-protocol.md)."""


@modules.command(context_settings={"ignore_unknown_options": True})
@click.option("--runtime", type=click.Choice(["executable", "node"]), default="executable",
              show_default=True, help="node: CMD is a script run by node with gati-module.")
@click.option("--no-sandbox", is_flag=True, help="Run CMD without its network namespace "
              "and filesystem view (to tell a sandbox problem from a protocol one).")
@click.option("--timeout", "timeout_s", default=5.0, show_default=True, type=float,
              help="Seconds each answer may take.")
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
def check(runtime: str, no_sandbox: bool, timeout_s: float, cmd: tuple[str, ...]) -> None:
    """Run CMD as a module and check it speaks the protocol: handshake, health, types,
    errors, cancellation. Exits 1 if any check fails."""
    from gati.modules.conformance import check_module

    findings = asyncio.run(check_module(list(cmd), root=str(Path.cwd()), runtime=runtime,
                                        sandbox=not no_sandbox, timeout_s=timeout_s))
    for finding in findings:
        click.echo(finding.render())
    failed = [f for f in findings if not f.ok]
    click.echo(f"{len(findings) - len(failed)} of {len(findings)} checks passed")
    if failed:
        sys.exit(1)


@modules.command(name="list")
@click.option("--app", "app_ref", envvar="GATI_APP", required=True, help="module:attr or file.py")
def list_modules(app_ref: str) -> None:
    """The app's modules: runtime, methods and capabilities, from its manifest."""
    from gati.cli.loader import load_app
    from gati.manifest import build_manifest

    manifest = build_manifest(load_app(app_ref))
    for m in manifest.modules:
        caps = ", ".join([*(f"egress:{e}" for e in m.egress), *m.capabilities]) or "none"
        methods = ", ".join(x.name for x in m.methods) or "unknown"
        click.echo(f"{m.module_id}  {m.runtime}  methods: {methods}  capabilities: {caps}")


@modules.command()
@click.option("--app", "app_ref", envvar="GATI_APP", required=True, help="module:attr or file.py")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the stubs here (default: print them).")
def stubs(app_ref: str, output: str | None) -> None:
    """A typing.Protocol per out-of-process module, for mypy to check handlers with."""
    from gati.cli.loader import load_app
    from gati.modules import ProcessModuleFactory
    from gati.modules.stubs import render_stubs

    app = load_app(app_ref)
    specs = [s.factory.spec for s in app.modules.values()
             if isinstance(s.factory, ProcessModuleFactory)]
    text = render_stubs(specs, source=app_ref)
    if output is None:
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text)
        click.echo(f"wrote {len(specs)} module stubs to {output}")


@modules.command()
@click.option("--app", "app_ref", envvar="GATI_APP", required=True, help="module:attr or file.py")
@click.argument("name")
def reload(app_ref: str, name: str) -> None:
    """Ask every worker running the app to reload module NAME: it starts a new process,
    sends it new calls and drains the old one (no worker restart, no failed request)."""
    from gati.cli.loader import load_app
    from gati.modules import ProcessModuleFactory
    from gati.modules.supervisor import RELOAD_FILE

    app = load_app(app_ref)
    spec = app.modules.get(name)
    if spec is None or not isinstance(spec.factory, ProcessModuleFactory):
        known = sorted(n for n, s in app.modules.items()
                       if isinstance(s.factory, ProcessModuleFactory))
        raise click.ClickException(f"no out-of-process module {name!r} in {app_ref} "
                                   f"(out-of-process modules: {', '.join(known) or 'none'})")
    marker = Path(spec.factory.spec.root) / RELOAD_FILE
    try:
        marker.write_text(f"{time.time_ns()}\n")
    except OSError as exc:
        raise click.ClickException(f"cannot write {marker}: {exc}") from None
    click.echo(f"asked workers to reload {name} ({marker})")

