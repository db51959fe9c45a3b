#!/usr/bin/env bash
# THE one command to try Gati: installs it into .venv and runs the example app on the
# embedded backends (no Kafka, no PostgreSQL needed). `gati dev` prints the URL and a curl.
# Usage: [PORT=8000] scripts/try.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
die() { echo "try.sh: $*" >&2; exit 1; }

PY="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  command -v "$PY" >/dev/null || die "$PY not found: install Python 3.11+ (apt-get install -y python3 python3-venv)"
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PY is $("$PY" -V 2>&1); Gati needs Python 3.11+ (set PYTHON=/path/to/python3.11)"
  "$PY" -m venv .venv || die "could not create .venv (on Debian: apt-get install -y python3-venv)"
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[examples]' || die "pip install -e . failed"
[[ -x .venv/bin/gati ]] || die ".venv/bin/gati missing after install (check [project.scripts] in pyproject.toml)"
exec .venv/bin/gati dev examples.users.app:app --port "${PORT:-8000}"
