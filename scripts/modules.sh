#!/usr/bin/env bash
# Builds the example modules that need building (the Go one: examples/users/modules/ids)
# when their sources are newer than the binary; Go's build cache (~/.cache/go-build) makes
# a rebuild cheap. Idempotent. Usage: scripts/modules.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v go >/dev/null || { echo "modules.sh: Go is needed to build examples/users/modules/ids (https://go.dev/dl)" >&2; exit 1; }
build() {  # build DIR OUT [GOOS GOARCH]: DIR/bin/OUT, when a Go source is newer
  local dir=$1 out=$1/bin/$2
  if [[ -f $out && -z $(find "$dir" -name '*.go' -newer "$out" -o -name go.mod -newer "$out") ]]; then
    return 0
  fi
  echo "modules.sh: building $out" >&2
  (cd "$dir" && CGO_ENABLED=0 GOOS=${3:-} GOARCH=${4:-} go build -trimpath -o "bin/$2" .)
}
build examples/users/modules/ids idsvc
build examples/users/modules/ids ids.wasm wasip1 wasm   # the same module for runtime = "wasm"
