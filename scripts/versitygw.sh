#!/usr/bin/env bash
# versitygw.sh: a second, independent S3 server with Object Lock for tests and
# CI: versitygw (Apache-2.0), a gateway that serves a POSIX directory as S3,
# with versioning and Object Lock kept in extended attributes. SeaweedFS
# (s3server.sh) is the first; running the S3 tests against both keeps the
# code to what S3 promises, not to one server's habits.
#
#   scripts/versitygw.sh start   build it if missing, start it, wait for an
#                                authenticated ListBuckets; ok if already running
#   scripts/versitygw.sh stop    stop it by PID (data kept); ok if not running
#   scripts/versitygw.sh env     print the variables tests read, as shell exports
#   scripts/versitygw.sh status  exit 0 if running and answering
#   scripts/versitygw.sh clean   stop, then delete its data
#   scripts/versitygw.sh build   only build (or find) the cached binary
#
# Variables tests read (printed by `env`):
#   EDGETRIAGE_TEST_VGW_ENDPOINT, EDGETRIAGE_TEST_VGW_ACCESS_KEY,
#   EDGETRIAGE_TEST_VGW_SECRET_KEY, EDGETRIAGE_TEST_VGW_REGION
#
# Knobs: EDGETRIAGE_TEST_S3_PORT_BASE (it listens on base + 21),
# EDGETRIAGE_TEST_VGW_STATE (default <repo>/.cache/versitygw),
# EDGETRIAGE_TEST_CACHE (where the binary is cached, as for weed).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${EDGETRIAGE_TEST_VGW_STATE:-$root/.cache/versitygw}"
base="${EDGETRIAGE_TEST_S3_PORT_BASE:-28330}"
port=$((base + 21))
endpoint="127.0.0.1:${port}"
access_key="edgetriage-vgw"
secret_key="edgetriage-vgw-secret-not-for-production"
region="us-east-1"

version="$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/versity/versitygw") print $(i + 1) }' "$root/tools/versitygw/go.mod" | head -n1)"
[ -n "$version" ] || { echo "versitygw: no version in tools/versitygw/go.mod" >&2; exit 1; }
cache="${EDGETRIAGE_TEST_CACHE:-${HOME:-/root}/.cache/edgetriage}"
bin="$cache/bin/versitygw-$version"
pidfile="$state/versitygw.pid"
logfile="$state/versitygw.log"
gobin="$(command -v go || echo /usr/local/go/bin/go)"

log() { echo "versitygw: $*" >&2; }

build() {
  [ -x "$bin" ] && return 0
  mkdir -p "$cache/bin"
  log "building versitygw $version (first time takes a few minutes)"
  (cd "$root/tools/versitygw" && "$gobin" build -p 1 -o "$bin.tmp" github.com/versity/versitygw/cmd/versitygw)
  mv "$bin.tmp" "$bin"
}

running() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  grep -q "versitygw" "/proc/$pid/cmdline" 2>/dev/null
}

# versitygw insists on x-amz-content-sha256, which curl's signer leaves out;
# the hash of the empty body is sent and signed.
answers() {
  curl -sf -o /dev/null --max-time 3 \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
    --aws-sigv4 "aws:amz:${region}:s3" --user "${access_key}:${secret_key}" \
    "http://${endpoint}/"
}

start_locked() {
  if running && answers; then return 0; fi
  if ! running; then
    if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
      log "port ${port} is in use by another program; set EDGETRIAGE_TEST_S3_PORT_BASE"
      return 1
    fi
    build
    mkdir -p "$state/buckets" "$state/versions"
    rm -f "$pidfile"
    # setsid and the pid written from inside the new session: see s3server.sh.
    setsid bash -c 'echo $$ >"$0" && exec "$@"' "$pidfile" "$bin" \
      --port "$endpoint" --access "$access_key" --secret "$secret_key" --region "$region" --quiet \
      posix --versioning-dir "$state/versions" "$state/buckets" \
      </dev/null >>"$logfile" 2>&1 9>&- &
    local w
    for w in $(seq 1 50); do
      [ -s "$pidfile" ] && break
      sleep 0.1
    done
    log "started versitygw pid $(cat "$pidfile" 2>/dev/null), S3 on http://${endpoint}, log $logfile"
  fi
  local i
  for i in $(seq 1 60); do
    if ! running; then
      log "versitygw exited; last log lines:"
      tail -n 20 "$logfile" >&2 || true
      rm -f "$pidfile"
      return 1
    fi
    if answers; then return 0; fi
    sleep 0.5
  done
  log "versitygw did not answer within 30 s; log: $logfile"
  return 1
}

stop_locked() {
  running || { rm -f "$pidfile"; return 0; }
  local pid i
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  log "stopped versitygw pid $pid"
}

locked() {
  mkdir -p "$state"
  exec 9>"$state/lock"
  flock 9
  "$@"
}

case "${1:-}" in
  start) locked start_locked ;;
  stop) locked stop_locked ;;
  clean) locked stop_locked && rm -rf "$state/buckets" "$state/versions" ;;
  build) build && echo "$bin" ;;
  status) running && answers ;;
  env)
    echo "export EDGETRIAGE_TEST_VGW_ENDPOINT=${endpoint}"
    echo "export EDGETRIAGE_TEST_VGW_ACCESS_KEY=${access_key}"
    echo "export EDGETRIAGE_TEST_VGW_SECRET_KEY=${secret_key}"
    echo "export EDGETRIAGE_TEST_VGW_REGION=${region}"
    ;;
  *)
    echo "usage: $0 start|stop|env|status|clean|build" >&2
    exit 2
    ;;
esac
