#!/usr/bin/env bash
# Builds edgetriage_<version>_amd64.deb (make deb) with nfpm, pinned in
# tools/nfpm and built once into ~/.cache/edgetriage/bin, from
# packaging/nfpm.yaml.
#
#   scripts/deb.sh [--out DIR] [--binary FILE --version DEBVERSION [--config FILE]]
#
# Without --binary the binary is built here with the version from
# scripts/version.sh stamped in. --binary packages one built elsewhere (an
# older release's, for the upgrade test) under today's packaging; --config
# ships another station config (one that release understands).
# The package's Depends lists the Debian packages of every shared library
# the binary links (OpenCV), read off the binary as dpkg-shlibdeps would.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
gobin="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
out="$root/dist"
binary=""
version=""
config=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --config) config="$(readlink -f "$2")"; shift 2 ;;
    *) echo "deb: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -n "$binary" ] && [ -z "$version" ]; then
  echo "deb: --binary needs --version" >&2
  exit 2
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ -z "$binary" ]; then
  version="$(bash "$root/scripts/version.sh" --deb)"
  binary="$work/edgetriage"
  (cd "$root" && "$gobin" build -trimpath -ldflags "-X main.version=$(bash scripts/version.sh)" -o "$binary" ./appliance/cmd/edgetriage)
fi

# The Debian packages of the shared libraries the binary links directly
# (its ELF NEEDED entries, as dpkg-shlibdeps reads them; what those pull in
# is their packages' own Depends). libc and the compiler's runtime are
# every system's and are named without a search.
needed="$(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
# owner prints the package shipping a library, under any of its names
# (usrmerge: dpkg may know /lib/... for what is now /usr/lib/...).
owner() {
  local p
  for p in "$1" "$(readlink -f "$1")" "${1/#\/usr\/lib\//\/lib\/}" "$(readlink -f "$1" | sed 's|^/usr/lib/|/lib/|')"; do
    dpkg -S "$p" 2>/dev/null | head -n1 | cut -d: -f1 && return 0
  done
  return 1
}
shlibs=()
while read -r soname; do
  [ -n "$soname" ] || continue
  case "$soname" in libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|ld-linux*|libgcc_s.so.*|libstdc++.so.*) continue ;; esac
  path="$(ldd "$binary" | awk -v so="$soname" '$1 == so && $2 == "=>" { print $3 }')"
  [ -n "$path" ] || { echo "deb: $soname is not found on this machine" >&2; exit 1; }
  pkg="$(owner "$path")" || { echo "deb: no installed package ships $path" >&2; exit 1; }
  shlibs+=("$pkg")
done <<<"$needed"
deps="$(printf '%s\n' "${shlibs[@]}" libc6 libstdc++6 libgcc-s1 | sort -u | paste -sd, | sed 's/,/, /g')"

# nfpm, built once per pinned version.
nfpm_version="$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/goreleaser/nfpm/v2") print $(i + 1) }' "$root/tools/nfpm/go.mod" | head -n1)"
[ -n "$nfpm_version" ] || { echo "deb: no nfpm version in tools/nfpm/go.mod" >&2; exit 1; }
nfpm="${XDG_CACHE_HOME:-$HOME/.cache}/edgetriage/bin/nfpm-$nfpm_version"
if [ ! -x "$nfpm" ]; then
  mkdir -p "$(dirname "$nfpm")"
  (cd "$root/tools/nfpm" && "$gobin" build -o "$nfpm.tmp" github.com/goreleaser/nfpm/v2/cmd/nfpm)
  mv "$nfpm.tmp" "$nfpm"
fi

# nfpm reads the files named in packaging/nfpm.yaml relative to where it
# runs: a staging directory with the binary beside the repository's parts.
stage="$work/stage"
mkdir -p "$stage"
cp "$binary" "$stage/edgetriage"
# The static bundle verifier for recipients (no cgo, no OpenCV): built from
# this tree whichever binary is packaged.
(cd "$root" && CGO_ENABLED=0 "$gobin" build -trimpath -o "$stage/edgetriage-verify" ./appliance/cmd/edgetriage-verify)
ln -s "$root/configs" "$stage/"
if [ -n "$config" ]; then
  # An older release's binary refuses keys it does not know.
  cp -r "$root/packaging" "$stage/packaging"
  cp "$config" "$stage/packaging/edgetriage.yaml"
else
  ln -s "$root/packaging" "$stage/"
fi
cp "$root/LICENSE" "$stage/LICENSE" # a file in the package, not a link to this tree
target="$out/edgetriage_${version}_amd64.deb"
(cd "$stage" && EDGETRIAGE_DEB_VERSION="$version" EDGETRIAGE_SHLIBS="$deps" \
  "$nfpm" package --config packaging/nfpm.yaml --packager deb --target "$target" >&2)
echo "$target"
