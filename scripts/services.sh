#!/usr/bin/env bash
# Both real backing services: the Kafka broker (scripts/kafka.sh) and PostgreSQL
# (scripts/postgres.sh). Runs the verb on both, even when the first fails, and exits
# non-zero if either failed (for status: 0 when both run, 3 when one is not running).
# Usage: scripts/services.sh start|stop|status
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

case "${1:-}" in
  start|stop|status) verb=$1 ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

rc=0 failed=()
for svc in kafka postgres; do
  r=0; "$here/$svc.sh" "$verb" || r=$?
  if (( r != 0 )); then
    failed+=("$svc (exit $r)")
    if (( rc == 0 || r != 3 )); then rc=$r; fi   # a real failure outranks "not running" (3)
  fi
done
if (( rc != 0 )) && ! [[ $verb == status && $rc == 3 ]]; then
  echo "services.sh: '$verb' failed for: ${failed[*]}" >&2
fi
exit "$rc"
