#!/usr/bin/env bash
# Prints the summary table that ends `make bench`: every figure listed in
# scripts/bench-goals.tsv, as the benchmarks in the given output reported
# it, against its goal. Exit status 0 whatever the verdicts: benchmarks on a
# shared machine inform, they do not gate.
# Usage: bash scripts/bench-summary.sh BENCH-OUTPUT
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: bench-summary.sh BENCH-OUTPUT}"
awk -F'\t' '
  FNR == NR {
    if ($0 ~ /^#/ || NF < 3) next
    key = $1 "\t" $2; goal[key] = $3; order[++n] = key; next
  }
  /^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name)
    m = split($0, f, /[ \t]+/)
    for (i = 3; i < m; i += 2) seen[name "\t" f[i+1]] = f[i]
  }
  function meets(v, g) {
    if (g == "-") return "-"
    op = g; sub(/[0-9.]+$/, "", op); lim = substr(g, length(op) + 1) + 0
    if (op == "<=") return (v <= lim) ? "met" : "MISSED"
    if (op == "<")  return (v <  lim) ? "met" : "MISSED"
    if (op == ">=") return (v >= lim) ? "met" : "MISSED"
    if (op == ">")  return (v >  lim) ? "met" : "MISSED"
    return "?"
  }
  END {
    printf "\n%-42s %-26s %12s %8s  %s\n", "benchmark", "figure", "value", "goal", "verdict"
    for (i = 1; i <= n; i++) {
      split(order[i], k, "\t")
      if (order[i] in seen) printf "%-42s %-26s %12s %8s  %s\n", k[1], k[2], seen[order[i]], goal[order[i]], meets(seen[order[i]] + 0, goal[order[i]])
      else printf "%-42s %-26s %12s %8s  %s\n", k[1], k[2], "not run", goal[order[i]], "-"
    }
  }
' scripts/bench-goals.tsv FS=' ' "$out"
