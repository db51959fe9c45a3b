#!/usr/bin/env bash
# Builds the example modules that need building (the Go one: examples/users/modules/ids)
# when their sources are newer than the binary; Go's build cache (~/.cache/go-build) makes
# a rebuild cheap. Idempotent. Usage: scripts/modules.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v go >/dev/null || { echo "modules.sh: Go is needed to build examples/users/modules/ids (https://go.dev/dl)" >&2; exit 1; }
build() {  # build DIR: DIR/bin/<name from DIR/gati-module.toml's entry>
  local dir=$1 out
  out="$dir/bin/$(basename "$(sed -n 's/^entry = \["\(.*\)"\]/\1/p' "$dir/gati-module.toml")")"
  if [[ -x $out && -z $(find "$dir" -name '*.go' -newer "$out" -o -name go.mod -newer "$out") ]]; then
    return 0
  fi
  echo "modules.sh: building $out" >&2
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -o "bin/$(basename "$out")" .)
}
build examples/users/modules/ids
