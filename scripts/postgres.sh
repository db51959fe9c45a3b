#!/usr/bin/env bash
# The machine's PostgreSQL (Debian's `postgresql` package, one pg_ctlcluster cluster) with the
# project's role and database. Idempotent: `start` installs, creates and starts only what is
# missing, and returns in a fraction of a second when everything already runs.
# Usage: scripts/postgres.sh start|stop|status|psql [ARGS...]|logs [N]
set -euo pipefail
PORT="${GATI_PG_PORT:-5432}"
PGUSER_="${GATI_PG_USER:-gati}"
PGPASS_="${GATI_PG_PASSWORD:-gati}"
PGDB_="${GATI_PG_DB:-gati}"
HOST=127.0.0.1
URL="postgresql+asyncpg://$PGUSER_:$PGPASS_@$HOST:$PORT/$PGDB_"

die() { echo "postgres.sh: $*" >&2; exit 1; }

# Run a command as root (we are root, or through sudo).
as_root() {
  if (( EUID == 0 )); then "$@"
  elif command -v sudo >/dev/null; then sudo -- "$@"
  else die "need root (or sudo) to run: $*"; fi
}
# Run a command as the postgres OS user, from a directory it can read.
as_postgres() {
  if (( EUID == 0 )); then (cd / && runuser -u postgres -- "$@")
  elif command -v sudo >/dev/null; then (cd / && sudo -u postgres -- "$@")
  else die "need root (or sudo) to run as the postgres user: $*"; fi
}

installed() { command -v pg_ctlcluster >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }
ready() { pg_isready -q -h "$HOST" -p "$PORT" >/dev/null 2>&1; }

install_server() {
  installed && return 0
  command -v apt-get >/dev/null || die "PostgreSQL server not installed and apt-get not found: install PostgreSQL 15+ (pg_ctlcluster, postgres) by hand"
  echo "postgres.sh: installing Debian's postgresql package (apt-get)" >&2
  as_root apt-get update -qq >&2 || die "apt-get update failed (is a Debian mirror reachable?)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 \
    || die "apt-get install postgresql failed"
  installed || die "postgresql installed but pg_ctlcluster or /usr/lib/postgresql/*/bin/postgres still missing"
}

# Sets VER, CLUSTER, LOGFILE for the cluster serving $PORT. With `create`, creates
# `<newest version> main` on $PORT if there is none; otherwise returns 1 when there is none.
find_cluster() {
  local line ver name port status owner datadir logfile
  VER="" CLUSTER="" LOGFILE=""
  while read -r ver name port status owner datadir logfile; do
    [[ -n $ver && $port == "$PORT" ]] && { VER=$ver CLUSTER=$name LOGFILE=$logfile; return 0; }
  done < <(pg_lsclusters -h 2>/dev/null)
  [[ ${1:-} == create ]] || return 1
  local newest
  newest="$(ls /usr/lib/postgresql | sort -n | tail -n 1)"
  [[ -n $newest ]] || die "no PostgreSQL version under /usr/lib/postgresql"
  if [[ -d /etc/postgresql/$newest/main ]]; then
    line="$(pg_lsclusters -h "$newest" main 2>/dev/null || true)"
    die "cluster $newest/main exists but not on port $PORT ($line); set GATI_PG_PORT to its port or change it in /etc/postgresql/$newest/main/postgresql.conf"
  fi
  echo "postgres.sh: creating cluster $newest/main on port $PORT" >&2
  as_root pg_createcluster -p "$PORT" "$newest" main >&2 || die "pg_createcluster $newest main failed"
  find_cluster
}

# One psql session as the postgres superuser: role and database, created or brought in line.
ensure_role_db() {
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" -d postgres \
      -v u="$PGUSER_" -v pw="$PGPASS_" -v db="$PGDB_" >/dev/null <<'SQL' || die "creating role/database failed (see errors above)"
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'u', :'pw')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'u') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'u', :'pw')
  FROM pg_roles WHERE rolname = :'u' AND NOT (rolcanlogin AND rolcreatedb) \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'u')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'u')
  FROM pg_database WHERE datname = :'db' AND datdba <> (SELECT oid FROM pg_roles WHERE rolname = :'u') \gexec
SQL
}

check_login() {
  PGPASSWORD="$PGPASS_" PGCONNECT_TIMEOUT=5 psql -X -q -tA -h "$HOST" -p "$PORT" -U "$PGUSER_" -d "$PGDB_" -c 'select 1' 2>&1
}

start() {
  install_server
  find_cluster create
  if ! ready; then
    echo "postgres.sh: starting cluster $VER/$CLUSTER on port $PORT" >&2
    as_root pg_ctlcluster "$VER" "$CLUSTER" start >&2 || true
    local deadline=$((SECONDS + ${GATI_PG_START_TIMEOUT:-30}))
    until ready; do
      if (( SECONDS >= deadline )); then
        tail -n 40 "$LOGFILE" >&2 2>/dev/null || true
        die "cluster $VER/$CLUSTER did not accept connections on $HOST:$PORT within ${GATI_PG_START_TIMEOUT:-30} s (log above: $LOGFILE)"
      fi
      sleep 0.2
    done
  fi
  # Fast path: the password login works and the role may create databases -> nothing to do.
  local out
  if [[ "$(PGPASSWORD="$PGPASS_" psql -X -q -tA -h "$HOST" -p "$PORT" -U "$PGUSER_" -d "$PGDB_" \
        -c "select rolcreatedb and (select datdba from pg_database where datname = current_database()) = oid
            from pg_roles where rolname = current_user" 2>/dev/null)" != t ]]; then
    ensure_role_db
    out="$(check_login)" || die "password login over TCP failed: psql -h $HOST -p $PORT -U $PGUSER_ -d $PGDB_: $out
(check the 'host ... 127.0.0.1/32 scram-sha-256' line in /etc/postgresql/$VER/$CLUSTER/pg_hba.conf)"
  fi
  echo "postgres: running on $HOST:$PORT (cluster $VER/$CLUSTER, log $LOGFILE)"
  echo "GATI_DATABASE_URL=$URL"
}

stop() {
  installed || { echo "postgres: not installed"; return 0; }
  find_cluster || { echo "postgres: no cluster on port $PORT"; return 0; }
  if [[ "$(pg_lsclusters -h "$VER" "$CLUSTER" | awk '{print $4}')" == down* ]]; then
    echo "postgres: not running"; return 0
  fi
  as_root pg_ctlcluster "$VER" "$CLUSTER" stop || die "pg_ctlcluster $VER $CLUSTER stop failed"
  echo "postgres: stopped"
}

status() {
  if ready; then echo "postgres: running on $HOST:$PORT"; return 0; fi
  echo "postgres: not running"; return 3
}

cmd="${1:-}"; shift || true
case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  psql) ready || die "server not running on $HOST:$PORT (run: scripts/postgres.sh start)"
        PGPASSWORD="$PGPASS_" exec psql -h "$HOST" -p "$PORT" -U "$PGUSER_" -d "$PGDB_" "$@" ;;
  logs) installed || die "PostgreSQL not installed"
        find_cluster || die "no cluster on port $PORT (pg_lsclusters)"; tail -n "${1:-100}" "$LOGFILE" ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|status|psql [ARGS...]|logs [N]|url" >&2; exit 2 ;;
esac
