#!/usr/bin/env bash
# Prints the version the build stamps into the binary (`edgetriage version`,
# edgetriage_build_info): git describe against the v* tags, e.g.
# v0.1.0-12-gabc1234 (-dirty with uncommitted changes). With --deb, the
# same as a Debian version, which must start with a digit and sort:
# 0.1.0+12.gabc1234 (0.0.0+gabc1234 before the first tag).
set -euo pipefail
cd "$(dirname "$0")/.."
v="$(git describe --tags --match 'v[0-9]*' --always --dirty 2>/dev/null || echo dev)"
if [ "${1:-}" != "--deb" ]; then
  echo "$v"
  exit 0
fi
v="${v#v}"
dirty=""
case "$v" in *-dirty) dirty=1; v="${v%-dirty}" ;; esac
if [[ "$v" =~ ^[0-9] ]]; then
  # 0.1.0 or 0.1.0-12-gabc1234
  if [[ "$v" =~ ^(.*)-([0-9]+)-(g[0-9a-f]+)$ ]]; then
    v="${BASH_REMATCH[1]}+${BASH_REMATCH[2]}.${BASH_REMATCH[3]}"
  fi
else
  v="0.0.0+g$v"
fi
if [ -n "$dirty" ]; then
  case "$v" in *+*) v="$v.dirty" ;; *) v="$v+dirty" ;; esac
fi
echo "$v"
