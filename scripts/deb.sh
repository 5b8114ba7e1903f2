#!/usr/bin/env bash
# Builds edgetriage_<version>_amd64.deb (make deb) with nfpm, pinned in
# tools/nfpm and built once into ~/.cache/edgetriage/bin, from
# packaging/nfpm.yaml.
#
#   scripts/deb.sh [--out DIR] [--binary FILE --version DEBVERSION]
#
# Without --binary the binary is built here with the version from
# scripts/version.sh stamped in. --binary packages one built elsewhere (an
# older release's, for the upgrade test) under today's packaging.
# The package's Depends lists the Debian packages of every shared library
# the binary links (OpenCV), read off the binary as dpkg-shlibdeps would.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
gobin="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
out="$root/dist"
binary=""
version=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    *) echo "deb: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -n "$binary" ] && [ -z "$version" ]; then
  echo "deb: --binary needs --version" >&2
  exit 2
fi
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ -z "$binary" ]; then
  version="$(bash "$root/scripts/version.sh" --deb)"
  binary="$work/edgetriage"
  (cd "$root" && "$gobin" build -trimpath -ldflags "-X main.version=$(bash scripts/version.sh)" -o "$binary" ./appliance/cmd/edgetriage)
fi

# The shared libraries the binary needs, and the installed packages that
# ship them (libc6 is everyone's and is left out).
shlibs=()
while read -r lib; do
  pkg="$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -n1 | cut -d: -f1)" || true
  [ -n "$pkg" ] || pkg="$(dpkg -S "$lib" 2>/dev/null | head -n1 | cut -d: -f1)" || true
  [ -n "$pkg" ] || { echo "deb: no installed package ships $lib" >&2; exit 1; }
  case "$pkg" in libc6|libgcc-s1|libstdc++6) ;; *) shlibs+=("$pkg") ;; esac
done < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
deps="$(printf '%s\n' "${shlibs[@]}" libstdc++6 libgcc-s1 | sort -u | paste -sd, | sed 's/,/, /g')"

# nfpm, built once per pinned version.
nfpm_version="$(awk '$1 == "github.com/goreleaser/nfpm/v2" { print $2 }' "$root/tools/nfpm/go.mod" | head -n1)"
[ -n "$nfpm_version" ] || { echo "deb: no nfpm version in tools/nfpm/go.mod" >&2; exit 1; }
nfpm="${XDG_CACHE_HOME:-$HOME/.cache}/edgetriage/bin/nfpm-$nfpm_version"
if [ ! -x "$nfpm" ]; then
  mkdir -p "$(dirname "$nfpm")"
  (cd "$root/tools/nfpm" && "$gobin" build -o "$nfpm.tmp" github.com/goreleaser/nfpm/v2/cmd/nfpm)
  mv "$nfpm.tmp" "$nfpm"
fi

target="$out/edgetriage_${version}_amd64.deb"
(cd "$root" && EDGETRIAGE_DEB_VERSION="$version" EDGETRIAGE_BINARY="$binary" EDGETRIAGE_SHLIBS="$deps" \
  "$nfpm" package --config packaging/nfpm.yaml --packager deb --target "$target" >&2)
echo "$target"
