#!/usr/bin/env bash
# The real backing services: the Kafka broker (scripts/kafka.sh), PostgreSQL
# (scripts/postgres.sh) and, for the operator's tests, a Kubernetes control plane
# (scripts/kube.sh: kube-apiserver, kube-controller-manager, etcd; built once, cached).
# Runs the verb on each, even when one fails, and exits non-zero if any failed (for
# status: 0 when all run, 3 when one is not running).
# Usage: scripts/services.sh start|stop|status
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

case "${1:-}" in
  start|stop|status) verb=$1 ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

rc=0 failed=()
for svc in kafka postgres kube; do
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
