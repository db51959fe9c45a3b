#!/usr/bin/env bash
# The sandbox tools out-of-process modules start under (docs/module-protocol.md):
# unshare (util-linux) for a network namespace with no interface up, bubblewrap for a
# filesystem view of only the declared paths. Both are Debian packages; idempotent.
# Usage: scripts/sandbox.sh
set -euo pipefail
need=()
command -v unshare >/dev/null || need+=(util-linux)
command -v bwrap >/dev/null || need+=(bubblewrap)
if (( ${#need[@]} )); then
  SUDO=""
  (( EUID == 0 )) || SUDO="sudo"
  echo "sandbox.sh: installing ${need[*]}" >&2
  $SUDO apt-get install -y -q "${need[@]}" >/dev/null \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q "${need[@]}" >/dev/null; }
fi
bwrap --version >/dev/null
unshare --version >/dev/null
