#!/usr/bin/env bash
# The whole test suite, as `make test` runs it: the real servers (S3 on
# 127.0.0.1 and the others below) are started, and built the first time,
# before any test so their builds never eat a test timeout, and stopped again
# however the tests end.
set -euo pipefail
cd "$(dirname "$0")/.."
go="${GO:-go}"
testflags="${TESTFLAGS:--count=1 -timeout 40m}"

# The other real servers the tests use, started the same way: versitygw (a
# second S3 implementation), PostgreSQL (central's state) and a multi-node
# SeaweedFS (central's scale-out test).
servers=(s3server.sh versitygw.sh pgserver.sh seaweedcluster.sh)
# The two S3 servers are built from source the first time (minutes each, -p 1);
# side by side they use both cores.
build_pids=()
bash scripts/s3server.sh build >/dev/null & build_pids+=($!)
bash scripts/versitygw.sh build >/dev/null & build_pids+=($!)
for p in "${build_pids[@]}"; do wait "$p"; done
stop_all() { for s in "${servers[@]}"; do bash "scripts/$s" stop || true; done; }
trap stop_all EXIT
for s in "${servers[@]}"; do
  bash "scripts/$s" start
  eval "$(bash "scripts/$s" env)"
done

# `scripts/test.sh central` (make test-central): the central service's tests
# alone: its packages, the S3 target on both servers, the feed filter and the
# fleet test with real stations.
if [ "${1:-}" = central ]; then
  # shellcheck disable=SC2086
  "$go" test -race $testflags ./central/... ./sync/s3/...
  # shellcheck disable=SC2086
  "$go" test $testflags -run 'TestChangesFeedFilter|TestCentral' ./appliance ./appliance/cmd/edgetriage
  exit 0
fi

# `scripts/test.sh daemon-race` (make test-daemon-race): the command's
# tests with the daemon and central workers they start built with -race, so
# the detector watches the running pipeline, not only the test binary. Kept
# out of make test: the daemon is slower under it (the package's run goes
# from about 5 to 7.5 minutes on 2 cores) and its timing waits tighter.
if [ "${1:-}" = daemon-race ]; then
  # shellcheck disable=SC2086
  EDGETRIAGE_TEST_BUILD_FLAGS=-race "$go" test $testflags ./appliance/cmd/edgetriage
  exit 0
fi

"$go" vet ./...
# gocv's image work is slow under the race detector and its cgo calls are not
# instrumented anyway, so the OpenCV packages run without -race.
mapfile -t cv_pkgs < <("$go" list ./... | grep -E '/triage/' || true)
mapfile -t race_pkgs < <("$go" list ./... | grep -vE '/triage/')
# The package's install test (minutes of apt in a fresh Debian root) has
# its own target, make install-test.
# shellcheck disable=SC2086
"$go" test -race $testflags -skip '^TestInstallUpgradePurge$' "${race_pkgs[@]}"
if [ ${#cv_pkgs[@]} -gt 0 ]; then
  # shellcheck disable=SC2086
  "$go" test $testflags "${cv_pkgs[@]}"
fi
