#!/usr/bin/env bash
# The real browser the playground's tests drive: Debian's chromium (Playwright cannot
# download its own browsers here, and a packaged one is what a fresh CI machine can get).
# Idempotent: does nothing when /usr/bin/chromium already runs.
# Usage: scripts/browser.sh [install|status]
set -euo pipefail
verb=${1:-install}
have() { [[ -x /usr/bin/chromium ]] && /usr/bin/chromium --version >/dev/null 2>&1; }
case "$verb" in
  status)
    if have; then /usr/bin/chromium --version; exit 0; fi
    echo "browser.sh: /usr/bin/chromium is not installed (scripts/browser.sh install)" >&2
    exit 3 ;;
  install)
    if have; then exit 0; fi
    command -v apt-get >/dev/null \
      || { echo "browser.sh: no apt-get; install chromium so that /usr/bin/chromium runs" >&2; exit 1; }
    sudo=""; if (( EUID != 0 )); then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -q chromium >/dev/null \
      || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null; }
    have || { echo "browser.sh: chromium installed but /usr/bin/chromium does not run" >&2; exit 1; }
    /usr/bin/chromium --version ;;
  *) echo "usage: $0 [install|status]" >&2; exit 2 ;;
esac
