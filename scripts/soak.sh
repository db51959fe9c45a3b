#!/usr/bin/env bash
# The fault suite as a soak (issue 11; not in CI): round after round of every scenario in
# tests/faults (kill -9 a worker, the recorder, the gateway; SIGSTOP and kill -9 the
# broker; stop Postgres; two workers starting at once; poison) under 60 requests/s on
# loopback, until MINUTES (default 30) are up; then the table of every round.
# Installs and starts what it needs as scripts/test.sh does, and leaves the broker and
# Postgres running whatever happens (they are shared). Exits non-zero if any round failed.
# Usage: scripts/soak.sh [MINUTES]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
minutes="${1:-${GATI_SOAK_MINUTES:-30}}"
[[ $minutes =~ ^[0-9]+$ ]] && (( minutes > 0 )) || { echo "usage: $0 [MINUTES]" >&2; exit 2; }
t0=$SECONDS
deadline=$((SECONDS + minutes * 60))

if [[ ! -x .venv/bin/python ]]; then
  "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
scripts/services.sh start

# Whatever stops the soak, the shared services are left running: a broker stopped with
# SIGSTOP is continued, a killed broker or a stopped Postgres is started again.
restore() {
  local pidfile="${GATI_STATE_DIR:-$HOME/.local/state/gati}/kafka/kafka.pid"
  [[ -f $pidfile ]] && kill -CONT "$(cat "$pidfile")" 2>/dev/null || true
  scripts/services.sh start >/dev/null || echo "soak.sh: could not restore the services" >&2
}
trap restore EXIT

export GATI_KAFKA_BOOTSTRAP=localhost:9092
export GATI_DATABASE_URL=postgresql+asyncpg://gati:gati@127.0.0.1:5432/gati
export GATI_REQUIRE_SERVICES=1
out="$(mktemp -d "${TMPDIR:-/tmp}/gati-soak.XXXXXX")"
export GATI_FAULTS_TABLE="$out/table.md"
: > "$GATI_FAULTS_TABLE"

# One round of the suite takes about 8 minutes; a round is not started without 3 left.
round=0 failed=0
while (( deadline - SECONDS > 180 )); do
  round=$((round + 1))
  left=$((deadline - SECONDS))
  echo "==> soak round $round ($((left / 60)) min left, logs in $out/round$round)" >&2
  rc=0
  timeout --signal=INT --kill-after=60 "$left" \
    .venv/bin/pytest tests/faults -q -p no:cacheprovider --basetemp="$out/round$round" \
    >"$out/round$round.log" 2>&1 || rc=$?
  grep -E '^(FAILED|ERROR) |[0-9]+ (passed|failed|error)' "$out/round$round.log" >&2 \
    || tail -n 3 "$out/round$round.log" >&2
  (( rc == 0 )) || failed=$((failed + 1))
done

echo
.venv/bin/python - <<'PY'
import sys
sys.path[:0] = ["tests", "tests/faults"]
from fault_report import HEADER
print(HEADER)
PY
cat "$GATI_FAULTS_TABLE"
echo "soak.sh: $round round(s) in $(((SECONDS - t0) / 60)) min, $failed failed; logs in $out" >&2
(( failed == 0 ))
