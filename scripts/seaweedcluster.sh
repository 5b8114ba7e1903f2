#!/usr/bin/env bash
# seaweedcluster.sh: a multi-node SeaweedFS on 127.0.0.1 for central's
# scale-out tests: one master, two volume servers, a filer and an S3 gateway,
# each its own process, as a force would run it across machines. Writes are
# replicated to both volume servers (replication 001), so every object lives
# on two nodes. Same weed binary as scripts/s3server.sh (built once, cached).
#
#   scripts/seaweedcluster.sh start   start every node that is not running, wait
#                                     for an authenticated ListBuckets
#   scripts/seaweedcluster.sh stop    stop every node (data kept)
#   scripts/seaweedcluster.sh env     print the variables tests read
#   scripts/seaweedcluster.sh status  exit 0 if every node runs and S3 answers
#   scripts/seaweedcluster.sh clean   stop, then delete the data
#
# Variables (printed by `env`): EDGETRIAGE_TEST_CLUSTER_ENDPOINT,
# EDGETRIAGE_TEST_CLUSTER_ACCESS_KEY, EDGETRIAGE_TEST_CLUSTER_SECRET_KEY,
# EDGETRIAGE_TEST_CLUSTER_REGION.
# Knobs: EDGETRIAGE_TEST_S3_PORT_BASE (the cluster uses base+30 .. base+41),
# EDGETRIAGE_TEST_CLUSTER_STATE (default <repo>/.cache/seaweedcluster).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${EDGETRIAGE_TEST_CLUSTER_STATE:-$root/.cache/seaweedcluster}"
base="${EDGETRIAGE_TEST_S3_PORT_BASE:-28330}"
p=$((base + 30))
access_key="edgetriage-cluster"
secret_key="edgetriage-cluster-secret-not-for-production"
region="us-east-1"
endpoint="127.0.0.1:$((p + 8))"
master="127.0.0.1:${p}.$((p + 1))"
filer="127.0.0.1:$((p + 6)).$((p + 7))"
nodes=(master volume1 volume2 filer s3)

log() { echo "seaweedcluster: $*" >&2; }

weed() { bash "$root/scripts/s3server.sh" build; }

pidfile() { echo "$state/$1.pid"; }

running() {
  local f pid
  f="$(pidfile "$1")"
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q weed "/proc/$pid/cmdline" 2>/dev/null
}

answers() {
  curl -sf -o /dev/null --max-time 3 \
    --aws-sigv4 "aws:amz:${region}:s3" --user "${access_key}:${secret_key}" \
    "http://${endpoint}/"
}

args() {
  local common=(-ip=127.0.0.1 -ip.bind=127.0.0.1 -metricsPort=0)
  case "$1" in
    master) echo master "${common[@]}" -port=$p -port.grpc=$((p + 1)) -mdir="$state/master" \
      -volumeSizeLimitMB=64 -defaultReplication=001 -telemetry=false -debug.port=$((p + 10)) ;;
    volume1) echo volume "${common[@]}" -port=$((p + 2)) -port.grpc=$((p + 3)) -dir="$state/volume1" \
      -max=2000 -master="$master" -rack=r1 -preStopSeconds=0 -debug.port=0 ;;
    volume2) echo volume "${common[@]}" -port=$((p + 4)) -port.grpc=$((p + 5)) -dir="$state/volume2" \
      -max=2000 -master="$master" -rack=r1 -preStopSeconds=0 -debug.port=0 ;;
    filer) echo filer "${common[@]}" -port=$((p + 6)) -port.grpc=$((p + 7)) -master="$master" \
      -defaultStoreDir="$state/filer" -iam=false -webdav=false -s3=false -debug.port=0 ;;
    s3) echo s3 "${common[@]}" -port=$((p + 8)) -port.grpc=$((p + 9)) -filer="$filer" \
      -config="$state/s3.json" -port.iceberg=0 -port.lance=0 -iam=false -debug.port=0 ;;
  esac
}

start_node() {
  local n=$1 bin f
  running "$n" && return 0
  bin="$(weed)"
  f="$(pidfile "$n")"
  mkdir -p "$state/$n"
  rm -f "$f"
  # From inside the state directory: the filer reads a filer.toml from ".".
  # shellcheck disable=SC2046
  setsid bash -c 'echo $$ >"$0" && cd "$1" && shift && exec "$@"' "$f" "$state" "$bin" $(args "$n") \
    </dev/null >>"$state/$n.log" 2>&1 9>&- &
  local w
  for w in $(seq 1 50); do
    [ -s "$f" ] && break
    sleep 0.1
  done
  log "started $n (pid $(cat "$f" 2>/dev/null)), log $state/$n.log"
}

write_config() {
  cat >"$state/s3.json" <<JSON
{
  "identities": [
    {
      "name": "edgetriage-cluster",
      "credentials": [{"accessKey": "${access_key}", "secretKey": "${secret_key}"}],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
JSON
}

start_locked() {
  if status_all && answers; then return 0; fi
  write_config
  local n
  for n in "${nodes[@]}"; do
    start_node "$n"
    sleep 0.5
  done
  local i
  for i in $(seq 1 120); do
    for n in "${nodes[@]}"; do
      if ! running "$n"; then
        log "$n exited; last log lines:"
        tail -n 20 "$state/$n.log" >&2 || true
        return 1
      fi
    done
    if answers; then return 0; fi
    sleep 0.5
  done
  log "the cluster's S3 gateway did not answer within 60 s; logs in $state"
  return 1
}

status_all() {
  local n
  for n in "${nodes[@]}"; do running "$n" || return 1; done
}

stop_locked() {
  local n pid i
  for n in s3 filer volume2 volume1 master; do
    running "$n" || { rm -f "$(pidfile "$n")"; continue; }
    pid="$(cat "$(pidfile "$n")")"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$(pidfile "$n")"
  done
  log "stopped"
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
  clean) locked stop_locked && rm -rf "${state:?}/master" "$state/volume1" "$state/volume2" "$state/filer" ;;
  status) status_all && answers ;;
  env)
    echo "export EDGETRIAGE_TEST_CLUSTER_ENDPOINT=${endpoint}"
    echo "export EDGETRIAGE_TEST_CLUSTER_ACCESS_KEY=${access_key}"
    echo "export EDGETRIAGE_TEST_CLUSTER_SECRET_KEY=${secret_key}"
    echo "export EDGETRIAGE_TEST_CLUSTER_REGION=${region}"
    ;;
  *)
    echo "usage: $0 start|stop|env|status|clean" >&2
    exit 2
    ;;
esac
