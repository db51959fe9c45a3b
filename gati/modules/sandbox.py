"""The command line a module process starts with: its sandbox, built from its manifest.

Enforced from outside the module, so nothing depends on the module behaving:

- ``unshare --net``: a network namespace of its own, holding only a loopback that is
  down. No socket can reach anything, the worker's own 127.0.0.1 included; the one way
  out is an RPC to the worker's broker, which checks the manifest's allowlist.
- ``bwrap`` (bubblewrap): a filesystem view of the system's libraries (read-only), the
  module's own directory (read-only), a private ``/tmp``, and the declared ``read`` and
  ``write`` paths; everything else on the machine does not exist for the module. It
  runs inside the network namespace, so it does not bring a loopback up.

Both come from Debian (util-linux, bubblewrap); ``scripts/sandbox.sh`` installs them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gati.errors import ConfigError
from gati.modules.spec import ProcessSpec

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The environment a module gets besides its declared ``env`` names: nothing of the worker.
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
# Gati's module helper for Node (``require("gati-module")``), shipped in the package.
NODE_HELPER = Path(__file__).resolve().parent / "node"


def entry_argv(spec: ProcessSpec) -> list[str]:
    """The module's own command, its path resolved against the manifest's directory."""
    first, *rest = spec.entry
    if spec.runtime == "node":
        node = shutil.which("node")
        if node is None:
            raise ConfigError(f"module {spec.name!r}: runtime 'node' but no node on PATH")
        return [node, str(Path(spec.root, first).resolve()), *rest]
    if "/" in first:
        return [str(Path(spec.root, first).resolve()), *rest]
    found = shutil.which(first)
    if found is None:
        raise ConfigError(f"module {spec.name!r}: {first!r} is not on PATH")
    return [found, *rest]


def module_env(spec: ProcessSpec, environ: dict[str, str] | None = None) -> dict[str, str]:
    source = os.environ if environ is None else environ
    env = dict(BASE_ENV)
    env.update({k: source[k] for k in spec.capabilities.env if k in source})
    if spec.runtime == "node":
        env["NODE_PATH"] = str(NODE_HELPER)
    return env


def sandboxed_argv(spec: ProcessSpec) -> list[str]:
    """``entry_argv`` inside the network namespace and the filesystem view, if sandboxed."""
    argv = entry_argv(spec)
    if not spec.sandbox:
        return argv
    for tool in ("unshare", "bwrap"):
        if shutil.which(tool) is None:
            raise ConfigError(f"module {spec.name!r} runs sandboxed, which needs {tool!r}: "
                              "run scripts/sandbox.sh (or set sandbox = false)")
    net = ["unshare", "--net"] if os.geteuid() == 0 else [
        "unshare", "--map-root-user", "--net"]
    return [*net, *bwrap_args(spec, argv), "--", *argv]


def bwrap_args(spec: ProcessSpec, argv: list[str]) -> list[str]:
    # No --new-session: the module stays in the process group the worker started, so
    # killing the group ends it even in the instant before bwrap's --die-with-parent holds.
    args = ["bwrap", "--die-with-parent", "--unshare-pid",
            "--unshare-ipc", "--unshare-uts", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp"]
    for path in SYSTEM:
        p = Path(path)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), path]
        elif p.exists():
            args += ["--ro-bind", path, path]
    readable = {str(Path(spec.root).resolve())}
    readable.update(str(Path(a).resolve().parent) for a in argv[:2] if a.startswith("/"))
    readable.update(str(Path(spec.root, r).resolve()) for r in spec.capabilities.read)
    if spec.runtime == "node":
        readable.add(str(NODE_HELPER))
    for path in sorted(readable):
        args += ["--ro-bind-try", path, path]
    for path in sorted(str(Path(spec.root, w).resolve()) for w in spec.capabilities.write):
        args += ["--bind", path, path]
    args += ["--chdir", str(Path(spec.root).resolve())]
    return args
