#!/usr/bin/env bash
# s3server.sh: a real S3 server (SeaweedFS `weed mini`) on 127.0.0.1 for tests and CI.
#
#   scripts/s3server.sh start   build weed if missing, start it, wait for an
#                               authenticated ListBuckets; ok if already running
#   scripts/s3server.sh stop    stop it by PID (data kept); ok if not running
#   scripts/s3server.sh env     print the variables tests read, as shell exports
#   scripts/s3server.sh status  exit 0 if running and answering, 1 otherwise
#   scripts/s3server.sh clean   stop, then delete its data directory
#   scripts/s3server.sh build   only build (or find) the cached weed binary
#
# Variables tests read (printed by `env`):
#   EDGETRIAGE_TEST_S3_ENDPOINT    host:port, plain HTTP, e.g. 127.0.0.1:28336
#   EDGETRIAGE_TEST_S3_ACCESS_KEY  fixed test credentials from the S3 config below
#   EDGETRIAGE_TEST_S3_SECRET_KEY
#   EDGETRIAGE_TEST_S3_REGION      us-east-1
#
# Knobs (environment):
#   EDGETRIAGE_TEST_S3_PORT_BASE   first of the 13 consecutive ports it uses (default 28330);
#                             set differently per checkout to run two servers at once
#   EDGETRIAGE_TEST_S3_STATE       state directory (default <repo>/.cache/s3server)
#
# Every port is set explicitly so weed never wanders to another one, everything
# binds to 127.0.0.1, telemetry is off, and WebDAV, the admin UI and the
# Iceberg/Lance catalogs are off. Every test bucket is a collection with
# volumes of its own, and Object Lock keeps them from being deleted, so
# volumes are small (64 MB) and many (4000): left to itself weed sizes them
# at 1 GB and allows free disk / 1 GB of them, which a few dozen test runs
# use up ("No writable volumes"). The binary is built once per SeaweedFS
# version from the tools/seaweedfs module and cached outside the checkout
# (EDGETRIAGE_TEST_CACHE, default ~/.cache/edgetriage/bin), so fresh clones on the
# same machine (CI) reuse it instead of spending minutes rebuilding.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${EDGETRIAGE_TEST_S3_STATE:-$root/.cache/s3server}"
base="${EDGETRIAGE_TEST_S3_PORT_BASE:-28330}"
access_key="edgetriage-test"
secret_key="edgetriage-test-secret-not-for-production"
region="us-east-1"
s3_port=$((base + 6))
endpoint="127.0.0.1:${s3_port}"

version="$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/seaweedfs/seaweedfs") print $(i + 1) }' "$root/tools/seaweedfs/go.mod" | head -n1)"
[ -n "$version" ] || { echo "s3server: no seaweedfs version in tools/seaweedfs/go.mod" >&2; exit 1; }
cache="${EDGETRIAGE_TEST_CACHE:-${HOME:-/root}/.cache/edgetriage}"
weed="$cache/bin/weed-$version"
pidfile="$state/weed.pid"
logfile="$state/weed.log"

log() { echo "s3server: $*" >&2; }

gobin="$(command -v go || echo /usr/local/go/bin/go)"

build() {
  [ -x "$weed" ] && return 0
  mkdir -p "$cache/bin"
  log "building weed $version (first time takes several minutes)"
  # -p 1: other builds and tests share this machine's two cores.
  (cd "$root/tools/seaweedfs" && "$gobin" build -p 1 -o "$weed.tmp" github.com/seaweedfs/seaweedfs/weed)
  mv "$weed.tmp" "$weed"
}

running() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # A recycled PID belongs to some other program: only a weed counts.
  grep -q "weed" "/proc/$pid/cmdline" 2>/dev/null
}

# answers: an authenticated ListBuckets succeeds, which proves S3, the filer
# behind it and the credentials are all ready.
answers() {
  curl -sf -o /dev/null --max-time 3 \
    --aws-sigv4 "aws:amz:${region}:s3" --user "${access_key}:${secret_key}" \
    "http://${endpoint}/"
}

write_config() {
  cat >"$state/s3.json" <<EOF
{
  "identities": [
    {
      "name": "edgetriage-test",
      "credentials": [{"accessKey": "${access_key}", "secretKey": "${secret_key}"}],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
EOF
}

start_locked() {
  if running; then
    if answers; then return 0; fi
    log "weed (pid $(cat "$pidfile")) is running but not answering yet; waiting"
  else
    if (exec 3<>"/dev/tcp/127.0.0.1/${s3_port}") 2>/dev/null; then
      log "port ${s3_port} is already in use by another program (another checkout's server?);"
      log "set EDGETRIAGE_TEST_S3_PORT_BASE to use another block of 13 ports"
      return 1
    fi
    build
    mkdir -p "$state/data"
    write_config
    local p=$base
    # setsid: the server outlives the shell (and the go test) that started it;
    # 9>&-: it must not inherit the start lock, or the next start would hang.
    # The pid is written from inside the new session: when the caller leads
    # its process group, setsid forks and $! would be setsid's own, soon gone.
    rm -f "$pidfile"
    setsid bash -c 'echo $$ >"$0" && exec "$@"' "$pidfile" "$weed" mini \
      -dir="$state/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
      -master.port=$((p + 0)) -master.port.grpc=$((p + 1)) \
      -volume.port=$((p + 2)) -volume.port.grpc=$((p + 3)) \
      -filer.port=$((p + 4)) -filer.port.grpc=$((p + 5)) \
      -s3.port=$((p + 6)) -s3.port.grpc=$((p + 7)) \
      -webdav=false -webdav.port=$((p + 8)) \
      -admin.ui=false -admin.port=$((p + 9)) -admin.port.grpc=$((p + 10)) -admin.port.legacy=0 \
      -debug.port=$((p + 11)) -s3.debug.port=$((p + 12)) \
      -s3.port.https=0 -s3.port.iceberg=0 -s3.port.lance=0 \
      -metricsPort=0 -s3.metricsPort=0 \
      -master.telemetry=false \
      -master.volumeSizeLimitMB=64 -volume.max=4000 \
      -s3.config="$state/s3.json" \
      </dev/null >>"$logfile" 2>&1 9>&- &
    local w
    for w in $(seq 1 50); do
      [ -s "$pidfile" ] && break
      sleep 0.1
    done
    log "started weed pid $(cat "$pidfile" 2>/dev/null), S3 on http://${endpoint}, log $logfile"
  fi
  local i
  for i in $(seq 1 120); do
    if ! running; then
      log "weed exited; last log lines:"
      tail -n 20 "$logfile" >&2 || true
      rm -f "$pidfile"
      return 1
    fi
    if answers; then return 0; fi
    sleep 0.5
  done
  log "weed did not answer an authenticated ListBuckets within 60 s; log: $logfile"
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
  if kill -0 "$pid" 2>/dev/null; then
    log "weed pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  log "stopped weed pid $pid"
}

# Concurrent test packages may all call start at once: one lock serialises
# the build and the launch.
locked() {
  mkdir -p "$state"
  exec 9>"$state/lock"
  flock 9
  "$@"
}

case "${1:-}" in
  start) locked start_locked ;;
  stop) locked stop_locked ;;
  clean) locked stop_locked && rm -rf "$state/data" ;;
  build) build && echo "$weed" ;;
  status) running && answers ;;
  env)
    echo "export EDGETRIAGE_TEST_S3_ENDPOINT=${endpoint}"
    echo "export EDGETRIAGE_TEST_S3_ACCESS_KEY=${access_key}"
    echo "export EDGETRIAGE_TEST_S3_SECRET_KEY=${secret_key}"
    echo "export EDGETRIAGE_TEST_S3_REGION=${region}"
    ;;
  *)
    echo "usage: $0 start|stop|env|status|clean|build" >&2
    exit 2
    ;;
esac
