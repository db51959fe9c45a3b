"""``gati k8s render|crd`` (plain manifests for GitOps) and ``gati operator``.

``render`` prints the very objects the operator applies (``gati.k8s.render``), without
owner references and with the migration Job first: a GitOps tool applies them in order,
and the processes' Deployments should wait on the Job (Argo CD's sync waves, Flux's
``dependsOn``), which the operator does by itself.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from gati.errors import ConfigError


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - the k8s extra brings it
        click.echo("gati k8s: needs PyYAML: pip install 'gati[k8s]'", err=True)
        sys.exit(2)
    return yaml


def _load(path: str) -> dict[str, Any]:
    yaml = _yaml()
    try:
        with open(path, encoding="utf-8") if path != "-" else sys.stdin as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d]
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not YAML: {exc}") from exc
    apps = [d for d in docs if isinstance(d, dict) and d.get("kind") == "GatiApp"]
    if len(apps) != 1:
        raise ConfigError(f"{path} must hold exactly one GatiApp resource (found {len(apps)})")
    return apps[0]


def render_documents(
    resource: dict[str, Any], namespace: str | None = None
) -> list[dict[str, Any]]:
    """The objects ``gati k8s render`` prints for one GatiApp resource."""
    from gati.k8s.render import render
    from gati.k8s.spec import parse_spec

    meta = resource.get("metadata") or {}
    name = str(meta.get("name") or "")
    if not name:
        raise ConfigError("metadata.name is missing")
    ns = namespace or str(meta.get("namespace") or "default")
    spec = parse_spec(resource.get("spec") or {})
    return render(name, ns, spec, image=spec.image)


@click.group(name="k8s")
def k8s() -> None:
    """Kubernetes manifests: the GatiApp CRD and an app's objects, as YAML."""


@k8s.command(name="render")
@click.option("-f", "--file", "path", required=True,
              help="A GatiApp resource (YAML); - reads stdin.")
@click.option("-n", "--namespace", default=None, help="Overrides metadata.namespace.")
@click.option("--with-crd", is_flag=True, help="Print the GatiApp CRD first.")
def render_cmd(path: str, namespace: str | None, with_crd: bool) -> None:
    """Print the Kubernetes objects the operator would create, for GitOps."""
    from gati.k8s.crd import crd

    try:
        docs = render_documents(_load(path), namespace)
    except ConfigError as exc:
        click.echo(f"gati k8s render: {exc.message}", err=True)
        sys.exit(2)
    if with_crd:
        docs.insert(0, crd())
    click.echo(_yaml().safe_dump_all(docs, sort_keys=False), nl=False)


@k8s.command(name="crd")
def crd_cmd() -> None:
    """Print the GatiApp CustomResourceDefinition."""
    from gati.k8s.crd import crd

    click.echo(_yaml().safe_dump(crd(), sort_keys=False), nl=False)


@k8s.command(name="operator-manifests")
@click.option("--image", required=True, help="An image with gati[k8s] installed.")
@click.option("-n", "--namespace", default="gati-system", show_default=True,
              help="Where the operator runs.")
@click.option("--watch", multiple=True, help="Namespaces to watch (repeatable); all if none.")
def operator_cmd(image: str, namespace: str, watch: tuple[str, ...]) -> None:
    """Print the operator's ServiceAccount, RBAC and Deployment."""
    from gati.k8s.operator_manifests import operator_manifests
    from gati.k8s.spec import valid_image

    if not valid_image(image):
        click.echo(f"gati k8s operator-manifests: --image {image!r} is not an image reference",
                   err=True)
        sys.exit(2)
    docs = operator_manifests(image, namespace, watch=watch)
    click.echo(_yaml().safe_dump_all(docs, sort_keys=False), nl=False)


@click.command()
@click.option("-n", "--namespace", "namespaces", multiple=True,
              help="Watch this namespace (repeatable); all namespaces when omitted.")
@click.option("--interval", default=15.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds between periodic reconciles (lag, migrations, cold versions).")
@click.option("--install-crd", is_flag=True, help="Apply the GatiApp CRD at start.")
def operator(namespaces: tuple[str, ...], interval: float, install_crd: bool) -> None:
    """Run the Kubernetes operator that reconciles GatiApp resources."""
    from gati.operator.handlers import run

    run(namespaces=namespaces, interval_s=interval, install_crd=install_crd)


def register_k8s_commands(cli: click.Group) -> None:
    cli.add_command(k8s)
    cli.add_command(operator)
