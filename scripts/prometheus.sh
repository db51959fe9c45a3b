#!/usr/bin/env bash
# promtool, from Debian's prometheus package: the tests check /metrics of gateway and
# worker with `promtool check metrics` (naming, units, HELP/TYPE lines), the linter
# Prometheus itself ships. Only the tool is needed: the package's server is not started.
# Idempotent: does nothing when promtool already runs.
# Usage: scripts/prometheus.sh [install|status]
set -euo pipefail
verb=${1:-install}
have() { command -v promtool >/dev/null && promtool --version >/dev/null 2>&1; }
case "$verb" in
  status)
    if have; then promtool --version 2>&1 | head -1; exit 0; fi
    echo "prometheus.sh: promtool is not installed (scripts/prometheus.sh install)" >&2
    exit 3 ;;
  install)
    if have; then exit 0; fi
    command -v apt-get >/dev/null \
      || { echo "prometheus.sh: no apt-get; install promtool (Prometheus' release tarball has it)" >&2; exit 1; }
    sudo=""; if (( EUID != 0 )); then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    # No recommends: the package's node exporter and web assets are not needed.
    $sudo apt-get install -y -q --no-install-recommends prometheus >/dev/null \
      || { $sudo apt-get update -q >/dev/null \
           && $sudo apt-get install -y -q --no-install-recommends prometheus >/dev/null; }
    have || { echo "prometheus.sh: prometheus installed but promtool does not run" >&2; exit 1; }
    promtool --version 2>&1 | head -1 ;;
  *) echo "usage: $0 [install|status]" >&2; exit 2 ;;
esac
