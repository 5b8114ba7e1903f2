#!/usr/bin/env bash
# Runs every fuzz target of the module for a bounded time, as `make fuzz`
# does: targets are found with `go test -list '^Fuzz'`, so a new `func
# FuzzX(f *testing.F)` anywhere is picked up with nothing to register.
#
#   FUZZTIME   time per target (default 10s; go test's -fuzztime syntax,
#              so "500x" means 500 runs)
#   FUZZPKGS   packages to search (default ./...)
#
# A target that fails leaves the input that failed in its package's
# testdata/fuzz/<Target>/; commit it with the fix: `go test` then runs it
# as a regression case on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
go="${GO:-go}"
fuzztime="${FUZZTIME:-10s}"
pkgs="${FUZZPKGS:-./...}"

mapfile -t all_pkgs < <("$go" list $pkgs)
targets=()
for pkg in "${all_pkgs[@]}"; do
	dir=$("$go" list -f '{{.Dir}}' "$pkg")
	# Only packages whose tests declare a fuzz target are compiled here.
	grep -qs '^func Fuzz' "$dir"/*_test.go || continue
	while read -r name; do
		[[ $name == Fuzz* ]] && targets+=("$pkg $name")
	done < <("$go" test -list '^Fuzz' "$pkg")
done

echo "fuzz targets (${#targets[@]}, $fuzztime each):"
printf '  %s\n' "${targets[@]}"
failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "== $name ($pkg)"
	if ! "$go" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"; then
		failed+=("$t")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz targets that failed (inputs in their testdata/fuzz/):"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
echo "all ${#targets[@]} fuzz targets ran $fuzztime without a failure"
