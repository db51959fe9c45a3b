#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for the operator's tests, the way
# controller-runtime's envtest runs one: Debian's etcd, and kube-apiserver plus
# kube-controller-manager built from the Go module k8s.io/kubernetes (no prebuilt binary is
# published where this project can fetch from). No kubelet and no scheduler run: pods are
# never started, tests patch status where they need "ready".
#
# The build (~6+ minutes on two cores, once) is cached under ~/.cache/gati/kube-<version>;
# the running cluster's state lives under ~/.cache/gati/kube-run (certs, token, etcd data,
# logs). Idempotent: `start` builds, installs and starts only what is missing.
# Usage: scripts/kube.sh build|start|stop|status|env|logs [apiserver|cm|etcd]
set -euo pipefail
VERSION="${GATI_KUBE_VERSION:-v1.37.2}"
STAGING="${VERSION/#v1./v0.}"                       # k8s.io/api etc. are v0.<minor>.<patch>
CACHE="${GATI_KUBE_CACHE:-$HOME/.cache/gati/kube-$VERSION}"
RUN="${GATI_KUBE_RUN:-$HOME/.cache/gati/kube-run}"
API_PORT="${GATI_KUBE_PORT:-6443}"
ETCD_PORT="${GATI_KUBE_ETCD_PORT:-2379}"
ETCD_PEER_PORT=$((ETCD_PORT + 1))
HOST=127.0.0.1
TOKEN="${GATI_KUBE_TOKEN:-gati-test-admin-token}"

die() { echo "kube.sh: $*" >&2; exit 1; }
as_root() {
  if (( EUID == 0 )); then "$@"
  elif command -v sudo >/dev/null; then sudo -- "$@"
  else die "need root (or sudo) to run: $*"; fi
}

# --- build -----------------------------------------------------------------------------
built() { [[ -x $CACHE/bin/kube-apiserver && -x $CACHE/bin/kube-controller-manager ]]; }

# The wrapper module: k8s.io/kubernetes points its staging modules (k8s.io/api, ...) at
# ./staging/..., which a dependent module cannot see; the replace lines pin each one to its
# published version instead. The list comes from kubernetes' own go.mod, so a new staging
# module in a later version needs no edit here.
write_wrapper() {
  local src=$1 mod
  command -v go >/dev/null || die "go not found: install Go 1.26+ (the kube-apiserver build needs it)"
  mkdir -p "$src"
  mod="$(cd "$src" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$VERSION" \
        | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f $mod ]] || die "could not download k8s.io/kubernetes@$VERSION's go.mod from the Go module proxy"
  {
    echo "module gati.local/kubebuild"
    echo
    echo "go $(sed -n 's/^go //p' "$mod")"
    echo
    echo "require k8s.io/kubernetes $VERSION"
    echo
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 '"$STAGING"'#p' "$mod"
    echo ")"
  } > "$src/go.mod"
  cat > "$src/tools.go" <<'GO'
//go:build tools

// Package kubebuild only names the commands to build, so `go mod tidy` keeps their deps.
package kubebuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
}

build() {
  built && return 0
  local src=$CACHE/src t0=$SECONDS minor
  echo "kube.sh: building kube-apiserver and kube-controller-manager $VERSION into $CACHE (once; ~6+ min on 2 cores)" >&2
  write_wrapper "$src"
  minor="${VERSION#v1.}"; minor="${minor%%.*}"
  (
    cd "$src"
    export GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
    go mod tidy -e >&2 || exit 1
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=$VERSION"
    ld+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    ld+=" -X k8s.io/component-base/version.gitTreeState=clean"
    mkdir -p "$CACHE/bin.tmp"
    go build -trimpath -ldflags "$ld" -o "$CACHE/bin.tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager >&2 || exit 1
  ) || die "building kube-apiserver $VERSION failed (see the go output above)"
  rm -rf "$CACHE/bin" && mv "$CACHE/bin.tmp" "$CACHE/bin"
  echo "kube.sh: built in $((SECONDS - t0)) s" >&2
}

# --- etcd ------------------------------------------------------------------------------
install_etcd() {
  command -v etcd >/dev/null && return 0
  command -v apt-get >/dev/null || die "etcd not found and apt-get missing: install etcd 3.4+ by hand"
  echo "kube.sh: installing Debian's etcd-server package (apt-get)" >&2
  as_root apt-get update -qq >&2 || die "apt-get update failed (is a Debian mirror reachable?)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server >&2 \
    || die "apt-get install etcd-server failed"
  # Debian's package starts a system etcd on 2379; this cluster runs its own on $ETCD_PORT.
  if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
    as_root systemctl stop etcd >&2 || true
  fi
  command -v etcd >/dev/null || die "etcd-server installed but etcd is not on PATH"
}

# --- certificates, token, kubeconfig ----------------------------------------------------
# A CA, a serving certificate for 127.0.0.1/localhost, and the service-account signing key.
# Clients authenticate with a static bearer token (system:masters): tests need no client certs.
make_pki() {
  local pki=$RUN/pki
  [[ -f $pki/apiserver.crt && -f $pki/sa.key && -f $RUN/tokens.csv && -f $RUN/kubeconfig ]] && return 0
  command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
  mkdir -p "$pki" && chmod 700 "$RUN" "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=gati-test-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null || die "openssl: CA failed"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null || die "openssl: CSR failed"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1\n' > "$pki/san.ext"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$pki/san.ext" -out "$pki/apiserver.crt" 2>/dev/null || die "openssl: signing failed"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null || die "openssl: service-account key failed"
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null || die "openssl: public key failed"
  printf '%s,gati-admin,gati-admin-uid,"system:masters"\n' "$TOKEN" > "$RUN/tokens.csv"
  chmod 600 "$RUN/tokens.csv"
  cat > "$RUN/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: gati-test
  cluster:
    server: https://$HOST:$API_PORT
    certificate-authority: $pki/ca.crt
users:
- name: gati-admin
  user:
    token: $TOKEN
contexts:
- name: gati-test
  context: {cluster: gati-test, user: gati-admin, namespace: default}
current-context: gati-test
YAML
  chmod 600 "$RUN/kubeconfig"
}

# --- processes --------------------------------------------------------------------------
pid_alive() { [[ -f $RUN/$1.pid ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
api_ready() {
  curl -sf --max-time 3 --cacert "$RUN/pki/ca.crt" -H "Authorization: Bearer $TOKEN" \
    "https://$HOST:$API_PORT/readyz" >/dev/null 2>&1
}
wait_for() {  # wait_for WHAT SECONDS CMD...: poll CMD until it succeeds
  local what=$1 limit=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    (( SECONDS < deadline )) || return 1
    sleep 0.5
  done
  echo "kube.sh: $what ready" >&2
}
api_up_or_dead() { api_ready || ! pid_alive apiserver; }
etcd_ready() { curl -sf --max-time 2 "http://$HOST:$ETCD_PORT/health" 2>/dev/null | grep -q true; }

spawn() {  # spawn NAME CMD...: start in the background, detached, logging to $RUN/NAME.log
  local name=$1; shift
  pid_alive "$name" && return 0
  nohup setsid "$@" >>"$RUN/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
}

start() {
  command -v curl >/dev/null || die "curl not found (apt-get install curl): it probes etcd and the API server"
  build
  install_etcd
  make_pki
  if ! pid_alive etcd; then
    spawn etcd etcd --name gati-test --data-dir "$RUN/etcd" \
      --listen-client-urls "http://$HOST:$ETCD_PORT" --advertise-client-urls "http://$HOST:$ETCD_PORT" \
      --listen-peer-urls "http://$HOST:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$HOST:$ETCD_PEER_PORT" \
      --initial-cluster "gati-test=http://$HOST:$ETCD_PEER_PORT" --unsafe-no-fsync
  fi
  wait_for etcd 30 etcd_ready || die "etcd did not become healthy on $HOST:$ETCD_PORT (see $RUN/etcd.log)"
  local pki=$RUN/pki
  spawn apiserver "$CACHE/bin/kube-apiserver" \
    --etcd-servers "http://$HOST:$ETCD_PORT" --bind-address "$HOST" --advertise-address "$HOST" \
    --secure-port "$API_PORT" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --token-auth-file "$RUN/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer "https://kubernetes.default.svc" --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" --service-cluster-ip-range 10.0.0.0/24 \
    --allow-privileged=true --cert-dir "$RUN/cert-dir" --profiling=false \
    --endpoint-reconciler-type none   # a loopback address cannot back the kubernetes Service
  wait_for kube-apiserver 120 api_up_or_dead || true
  api_ready || die "kube-apiserver did not become ready on $HOST:$API_PORT (see $RUN/apiserver.log)"
  # Deployment -> ReplicaSet -> Pod, Job -> Pod, garbage collection of owned objects,
  # namespace deletion and default service accounts: the controllers the tests rely on.
  spawn cm "$CACHE/bin/kube-controller-manager" --kubeconfig "$RUN/kubeconfig" \
    --bind-address "$HOST" --secure-port 0 --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --controllers "garbagecollector,deployment,replicaset,job,namespace,serviceaccount,disruption"
  sleep 1; pid_alive cm || die "kube-controller-manager exited at start (see $RUN/cm.log)"
  echo "kube.sh: cluster at https://$HOST:$API_PORT; KUBECONFIG=$RUN/kubeconfig" >&2
}

stop() {  # in reverse order of start, each gone before the next (etcd last)
  local name pid i
  for name in cm apiserver etcd; do
    if pid_alive "$name"; then
      pid="$(cat "$RUN/$name.pid")"
      kill "$pid" 2>/dev/null || true
      for ((i = 0; i < 40; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/$name.pid"
  done
}

status() {
  local rc=0 name
  for name in etcd apiserver cm; do
    if pid_alive "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"
    else echo "$name: not running"; rc=3; fi
  done
  api_ready && echo "kube-apiserver: ready at https://$HOST:$API_PORT" || rc=3
  return "$rc"
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export KUBECONFIG=$RUN/kubeconfig" ;;
  logs) tail -n "${3:-50}" "$RUN/${2:-apiserver}.log" ;;
  *) echo "usage: $0 build|start|stop|status|env|logs [apiserver|cm|etcd]" >&2; exit 2 ;;
esac
