#!/usr/bin/env bash
# pgserver.sh: a real PostgreSQL (Debian's postgresql package) on 127.0.0.1
# for central's tests and CI. Its cluster is made by initdb in a directory of
# its own (never Debian's "main" cluster) and runs as an unprivileged user:
# the package's `postgres` account when started as root, the caller otherwise.
#
#   scripts/pgserver.sh start    initdb if needed, start, wait until it accepts
#                                connections; ok if already running
#   scripts/pgserver.sh stop     stop it (fast shutdown; data kept); ok if not running
#   scripts/pgserver.sh env      print the variables tests read, as shell exports
#   scripts/pgserver.sh status   exit 0 if running and answering
#   scripts/pgserver.sh clean    stop, then delete the cluster
#
# Variables tests read (printed by `env`):
#   EDGETRIAGE_TEST_PG_DSN   postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
#
# Knobs (environment):
#   EDGETRIAGE_TEST_PG_PORT      default EDGETRIAGE_TEST_S3_PORT_BASE + 20 (28350)
#   EDGETRIAGE_TEST_PG_STATE     cluster directory (default /tmp/edgetriage-pg-PORT: the
#                                unprivileged user must be able to reach it, which a
#                                checkout under /root is not)
set -euo pipefail

base="${EDGETRIAGE_TEST_S3_PORT_BASE:-28330}"
port="${EDGETRIAGE_TEST_PG_PORT:-$((base + 20))}"
state="${EDGETRIAGE_TEST_PG_STATE:-/tmp/edgetriage-pg-$port}"
data="$state/data"
logfile="$state/postgres.log"
dsn="postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable"

log() { echo "pgserver: $*" >&2; }

bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [ -n "$d" ] && [ -x "$d/initdb" ] || { log "no PostgreSQL server binaries under /usr/lib/postgresql (run scripts/deps.sh)"; return 1; }
  echo "$d"
}

# as runs a command as the cluster's owner.
as() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

answers() { as "$(bindir)/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1; }

init() {
  [ -f "$data/PG_VERSION" ] && return 0
  mkdir -p "$state"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$state"; fi
  chmod 0700 "$state"
  log "initdb in $data"
  # trust on loopback only: a test cluster, reachable from this machine alone.
  as "$(bindir)/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$state/initdb.log" 2>&1 ||
    { cat "$state/initdb.log" >&2; return 1; }
  cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${state}'
max_connections = 200
CONF
}

start_locked() {
  if answers; then return 0; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
    log "port ${port} is in use by another program; set EDGETRIAGE_TEST_PG_PORT"
    return 1
  fi
  init
  # 9>&-: the server must not inherit the start lock, or the next start would hang.
  as "$(bindir)/pg_ctl" -D "$data" -l "$logfile" -w -t 60 start >/dev/null 9>&- ||
    { log "postgres did not start; last log lines:"; tail -n 20 "$logfile" >&2; return 1; }
  log "PostgreSQL on 127.0.0.1:${port}, cluster $data"
}

stop_locked() {
  [ -f "$data/postmaster.pid" ] || return 0
  as "$(bindir)/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  log "stopped PostgreSQL on port ${port}"
}

locked() {
  mkdir -p "$state"
  exec 9>"$state.lock"
  flock 9
  "$@"
}

case "${1:-}" in
  start) locked start_locked ;;
  stop) locked stop_locked ;;
  clean) locked stop_locked && rm -rf "$state" ;;
  status) answers ;;
  env) echo "export EDGETRIAGE_TEST_PG_DSN='${dsn}'" ;;
  *)
    echo "usage: $0 start|stop|env|status|clean" >&2
    exit 2
    ;;
esac
