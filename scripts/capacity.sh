#!/usr/bin/env bash
# How many CCTV cameras one appliance keeps up with (BenchmarkCapacity in
# appliance/cmd/edgetriage): N rises through EDGETRIAGE_TEST_CAPACITY_STEPS
# (default 4,8,16,24,32), each step EDGETRIAGE_TEST_CAPACITY_STEP long (default
# 3m), until the appliance falls behind. The machine's load is printed
# before and after: on a shared machine the figure is only as good as that.
# Output is kept in capacity.out.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
bash scripts/s3server.sh start
eval "$(bash scripts/s3server.sh env)"
echo "capacity: $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"$GO" test -run '^$' -bench '^BenchmarkCapacity$' -benchtime 1x -timeout 120m -v ./appliance/cmd/edgetriage 2>&1 | tee capacity.out || status=$?
echo "capacity: load after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -E 'cameras: |cameras-sustained' capacity.out || true
exit "$status"
