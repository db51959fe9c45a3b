#!/usr/bin/env bash
# THE one command: installs everything on a fresh machine (venv, package with dev extras,
# Kafka broker, PostgreSQL) and runs the whole check: ruff, mypy, pytest (extra args go to
# pytest). Stops at the first failing step and names it.
# Usage: scripts/test.sh [PYTEST_ARGS...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
t0=$SECONDS
die() { echo "test.sh: $*" >&2; echo "test.sh: FAILED after $((SECONDS - t0)) s" >&2; exit 1; }
step() {  # step NAME CMD...: run, or stop everything naming the step
  local name=$1; shift
  echo "==> $name" >&2
  local rc=0; "$@" || rc=$?
  if (( rc != 0 )); then
    echo "test.sh: step '$name' failed (exit $rc)" >&2
    echo "test.sh: FAILED after $((SECONDS - t0)) s" >&2
    exit "$rc"
  fi
}

PY="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  command -v "$PY" >/dev/null || die "$PY not found: install Python 3.11+ (apt-get install -y python3 python3-venv)"
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PY is $("$PY" -V 2>&1); Gati needs Python 3.11+ (set PYTHON=/path/to/python3.11)"
  step "create .venv" "$PY" -m venv .venv
fi
.venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die ".venv has $(.venv/bin/python -V 2>&1); Gati needs 3.11+: remove .venv and rerun with PYTHON=/path/to/python3.11"
step "pip install -e .[dev]" .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
step "services start" scripts/services.sh start
step "browser install" scripts/browser.sh install
step "promtool install" scripts/prometheus.sh install  # promtool check metrics in the tests
step "sandbox tools" scripts/sandbox.sh   # unshare + bubblewrap for out-of-process modules

export GATI_KAFKA_BOOTSTRAP=localhost:9092
export GATI_DATABASE_URL=postgresql+asyncpg://gati:gati@127.0.0.1:5432/gati
export GATI_REQUIRE_SERVICES=1

step "ruff" .venv/bin/ruff check .
step "mypy" .venv/bin/mypy gati
step "pytest" .venv/bin/pytest -q "$@"
echo "test.sh: all steps passed in $((SECONDS - t0)) s" >&2
