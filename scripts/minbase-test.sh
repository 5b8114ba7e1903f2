#!/usr/bin/env bash
# Tests of this tree in a fresh Debian 12 minbase root, as a new machine
# runs them: a clone of HEAD, Go bound in, the project's own scripts/deps.sh
# installing what the tests need from Debian's mirror, then go test. As root:
#
#   scripts/minbase-test.sh [PACKAGE TEST-REGEXP]...
#
# Without arguments it runs the two tests that once failed only on such a
# machine (issue 18): TestUnreadableFileIsReported and
# TestChangesFeedUnderConcurrentIntake. The root tarball is shared with
# scripts/install-test.sh (~/.cache/edgetriage/install-test), apt's
# downloads are kept beside it; Go's module and build caches are the
# host's, bound in. Tests run with -race, as make test runs these packages.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
gobin="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
goroot="$("$gobin" env GOROOT)"
modcache="$("$gobin" env GOMODCACHE)"
buildcache="$("$gobin" env GOCACHE)"
mirror="${EDGETRIAGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/edgetriage/install-test"
tarball="$cache/bookworm-minbase.tar.gz"

[ "$(id -u)" -eq 0 ] || { echo "minbase-test: needs root (chroot, mounts)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "minbase-test: needs debootstrap (scripts/deps.sh installs it)" >&2; exit 2; }
if [ $# -eq 0 ]; then
  set -- ./appliance/cmd/edgetriage '^TestUnreadableFileIsReported$' ./appliance '^TestChangesFeedUnderConcurrentIntake$'
fi
[ $(($# % 2)) -eq 0 ] || { echo "usage: minbase-test.sh [PACKAGE TEST-REGEXP]..." >&2; exit 2; }

say() { echo "minbase-test: $*" >&2; }
started=$SECONDS

# apt's downloads of its own: apt locks its archive directory for a whole
# run, and install-test.sh may be running.
archives="$cache/archives-minbase"
mkdir -p "$archives/partial"
if [ ! -s "$tarball" ]; then
  say "debootstrap --variant=minbase bookworm (first run; cached in $tarball)"
  fresh="$(mktemp -d)"
  debootstrap --variant=minbase bookworm "$fresh" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; rm -rf --one-file-system "$fresh"; exit 1; }
  tar -C "$fresh" --numeric-owner -czf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf --one-file-system "$fresh"
fi

work="$(mktemp -d)"
root="$work/root"
mkdir "$root"
mounts=(proc dev dev/pts sys var/cache/apt/archives usr/local/go root/go/pkg/mod root/.cache/go-build)

# Unmounts everything under the root before removing it: a bind mount of
# the host's /dev or caches must never meet rm -rf.
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    mountpoint -q "$root/${mounts[i]}" 2>/dev/null && umount -l "$root/${mounts[i]}"
  done
  if [ -z "$(findmnt -rn -o TARGET | grep -F "$root" || true)" ]; then
    rm -rf --one-file-system "$work"
  else
    say "left $work in place: something is still mounted under it"
  fi
}
trap cleanup EXIT

tar -C "$root" --numeric-owner -xzf "$tarball"
mkdir -p "$root/usr/local/go" "$root/root/go/pkg/mod" "$root/root/.cache/go-build"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount --bind -o ro /sys "$root/sys"
mount --bind "$archives" "$root/var/cache/apt/archives"
mount --bind -o ro "$goroot" "$root/usr/local/go"
mount --bind "$modcache" "$root/root/go/pkg/mod"
mount --bind "$buildcache" "$root/root/.cache/go-build"
cp /etc/resolv.conf "$root/etc/resolv.conf"
rm -f "$root/etc/apt/apt.conf.d/docker-clean"
echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' >"$root/etc/apt/apt.conf.d/99keep"

# A clone of what is committed here, as a new machine would have it.
git clone -q --no-local "$repo" "$root/src/edgetriage"
git -C "$root/src/edgetriage" checkout -q --detach "$(git -C "$repo" rev-parse HEAD)"

in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
    PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

say "scripts/deps.sh in the root"
in_root bash -c 'cd /src/edgetriage && bash scripts/deps.sh' >"$work/deps.log" 2>&1 ||
  { tail -30 "$work/deps.log" >&2; say "FAIL: scripts/deps.sh"; exit 1; }
say "root ready in $((SECONDS - started)) s"

status=0
while [ $# -gt 0 ]; do
  pkg="$1" run="$2"
  shift 2
  say "go test -run '$run' $pkg"
  in_root bash -c "cd /src/edgetriage && go test -race -count=1 -timeout 20m -v -run '$run' '$pkg'" || status=1
done
if [ "$status" -eq 0 ]; then say "PASS in $((SECONDS - started)) s"; else say "FAIL in $((SECONDS - started)) s"; fi
exit "$status"
