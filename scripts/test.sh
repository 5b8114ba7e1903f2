#!/usr/bin/env bash
# The whole test suite, as `make test` runs it: the real S3 server (SeaweedFS
# on 127.0.0.1) is started, and built the first time, before any test so its
# build never eats a test timeout, and stopped again however the tests end.
set -euo pipefail
cd "$(dirname "$0")/.."
go="${GO:-go}"
testflags="${TESTFLAGS:--count=1 -timeout 40m}"

bash scripts/s3server.sh start
trap 'bash scripts/s3server.sh stop' EXIT
eval "$(bash scripts/s3server.sh env)"

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
