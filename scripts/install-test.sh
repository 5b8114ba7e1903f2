#!/usr/bin/env bash
# The package as a station's IT installs it, in a fresh Debian 12 root
# (debootstrap --variant=minbase bookworm), as root:
#
#   scripts/install-test.sh NEW.deb [OLD.deb]
#
# With OLD.deb: OLD is installed, started, and a body camera is docked and
# offloaded; then NEW is installed over it, started (the vault migrates on
# open), and the vault must verify against the key copied out before the
# upgrade, with nothing offloaded again. Without it, NEW alone is installed
# and started. Either way: apt pulls the dependencies from Debian's mirror,
# the user and directories exist with their owners, `edgetriage version`
# prints the package's version, /healthz answers with the daemon started
# the way the unit starts it (its ExecStart, User, Group and UMask; systemd
# is not PID 1 in a chroot), and `apt-get purge` leaves /var/lib/edgetriage.
#
# The debootstrapped root and apt's downloads are cached in
# ~/.cache/edgetriage/install-test, so only the first run fetches them all.
# EDGETRIAGE_INSTALL_TEST_PORT (default: a free pair from 35330 up)
# and the port above it are
# the daemon's HTTPS and WebRTC ports on loopback.
set -euo pipefail

new_deb="$(readlink -f "${1:?usage: install-test.sh NEW.deb [OLD.deb]}")"
old_deb="${2:+$(readlink -f "$2")}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
port="${EDGETRIAGE_INSTALL_TEST_PORT:-}"
mirror="${EDGETRIAGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/edgetriage/install-test"
tarball="$cache/bookworm-minbase.tar.gz"

[ "$(id -u)" -eq 0 ] || { echo "install-test: needs root (chroot, mounts)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "install-test: needs debootstrap (scripts/deps.sh installs it)" >&2; exit 2; }

say() { echo "install-test: $*" >&2; }

# free_ports prints a free port from 35330 up, from a random start as runs
# that have not yet started their daemon cannot be seen, with the
# one above it, on TCP and UDP: several runs may share a machine.
free_ports() {
  local p used
  used="$(ss -Hlntu 2>/dev/null | awk '{ n = split($5, a, ":"); print a[n] }')"
  for ((p = 35330 + 2 * (RANDOM % 100); p < 35600; p += 2)); do
    grep -qxE "$p|$((p + 1))" <<<"$used" || { echo "$p"; return 0; }
  done
  return 1
}
[ -n "$port" ] || port="$(free_ports)" || { say "no free port pair from 35330"; exit 1; }
fail() { say "FAIL: $*"; exit 1; }
started=$SECONDS

mkdir -p "$cache/archives/partial"
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
daemon_pid=""

# Unmounts everything under the root before removing it: a bind mount of
# the host's /dev must never meet rm -rf.
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  for m in sys dev/pts dev proc; do
    mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
  done
  if [ -z "$(findmnt -rn -o TARGET | grep -F "$root" || true)" ]; then
    rm -rf --one-file-system "$work"
  else
    say "left $work in place: something is still mounted under it"
  fi
}
trap cleanup EXIT

tar -C "$root" --numeric-owner -xzf "$tarball"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount --bind -o ro /sys "$root/sys"
# apt's downloads: linked in and out rather than bound, as apt locks its
# archive directory for a whole run and runs may overlap.
# Only the packages: a linked lock file would be the other run's lock.
# link_debs FROM TO links (else copies) the .deb files FROM has and TO lacks.
link_debs() {
  local f
  for f in "$1"/*.deb; do
    [ -e "$f" ] && [ ! -e "$2/${f##*/}" ] || continue
    ln "$f" "$2/" 2>/dev/null || cp "$f" "$2/"
  done
}
link_debs "$cache/archives" "$root/var/cache/apt/archives"
keep_downloads() { link_debs "$root/var/cache/apt/archives" "$cache/archives"; }
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf 'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n' >"$root/etc/apt/apt.conf.d/99install-test"
# Keep what apt downloads, so the next run fetches nothing it has.
rm -f "$root/etc/apt/apt.conf.d/docker-clean"
echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' >"$root/etc/apt/apt.conf.d/99keep"

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
apt_in_root() { in_root DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@"; }

say "apt-get update"
apt_in_root update >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; exit 1; }

# deb_version prints the Version field of a .deb.
deb_version() { dpkg-deb -f "$1" Version; }

install_deb() {
  local deb="$1"
  cp "$deb" "$root/tmp/"
  say "apt-get install ./$(basename "$deb")"
  apt_in_root install "./tmp/$(basename "$deb")" >"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log" >&2; fail "apt-get install"; }
  keep_downloads
  in_root dpkg-query -W -f='${Version}' edgetriage | grep -qxF "$(deb_version "$deb")" || fail "dpkg does not list $(deb_version "$deb")"
}

check_layout() {
  in_root getent passwd edgetriage >/dev/null || fail "no edgetriage user"
  [ "$(in_root getent passwd edgetriage | cut -d: -f7)" = /usr/sbin/nologin ] || fail "edgetriage user has a login shell"
  for want in "/var/lib/edgetriage edgetriage:edgetriage 750" "/media/edgetriage/dock root:edgetriage 775" \
    "/etc/edgetriage/edgetriage.yaml root:edgetriage 640" "/usr/bin/edgetriage root:root 755"; do
    set -- $want
    got="$(in_root stat -c '%U:%G %a' "$1")"
    [ "$got" = "$2 $3" ] || fail "$1 is $got, want $2 $3"
  done
  in_root dpkg-query -W -f='${Conffiles}' edgetriage | grep -q /etc/edgetriage/edgetriage.yaml || fail "config is not a conffile"
}

# start_daemon runs the unit's ExecStart as the unit's user, group and
# umask, with the listeners moved to this test's ports (as a drop-in's
# Environment= would), logging where the journal would.
start_daemon() {
  local unit="$root/lib/systemd/system/edgetriage.service"
  local exec_start user group umask_
  exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
  user="$(sed -n 's/^User=//p' "$unit")"
  group="$(sed -n 's/^Group=//p' "$unit")"
  umask_="$(sed -n 's/^UMask=//p' "$unit")"
  [ -n "$exec_start" ] && [ -n "$user" ] || fail "unit has no ExecStart or User"
  say "starting as the unit would: $exec_start (user $user)"
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    EDGETRIAGE_HTTP_ADDR="127.0.0.1:$port" EDGETRIAGE_WEBRTC_UDP_ADDR="127.0.0.1:$((port + 1))" \
    /usr/bin/setpriv --reuid="$user" --regid="${group:-$user}" --init-groups --no-new-privs --inh-caps=-all --bounding-set=-all \
    /bin/sh -c "umask ${umask_:-0022}; exec $exec_start" >>"$work/daemon.log" 2>&1 &
  daemon_pid=$!
  local i
  for i in $(seq 1 120); do
    if curl -ksf "https://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      say "/healthz answers ($i s)"
      return 0
    fi
    kill -0 "$daemon_pid" 2>/dev/null || { tail -30 "$work/daemon.log" >&2; fail "daemon exited"; }
    sleep 1
  done
  tail -30 "$work/daemon.log" >&2
  fail "/healthz did not answer in 120 s"
}

stop_daemon() {
  kill -TERM "$daemon_pid"
  wait "$daemon_pid" || { tail -30 "$work/daemon.log" >&2; fail "daemon exited non-zero on SIGTERM"; }
  daemon_pid=""
}

as_user() { in_root /usr/bin/setpriv --reuid=edgetriage --regid=edgetriage --init-groups "$@"; }

# count_events ACTION counts the custody events of that action.
count_events() { as_user edgetriage custody --data /var/lib/edgetriage --json | grep -c "\"action\":\"$1\"" || true; }

objects() { find "$root/var/lib/edgetriage/objects" -type f 2>/dev/null | wc -l; }

dock_camera() {
  local bay="$root/media/edgetriage/dock/bay-1"
  mkdir -p "$bay/DCIM/100CAM"
  cp "$repo/testdata/footage/static-room.mp4" "$bay/DCIM/100CAM/CLIP0001.MP4"
  cp "$repo/testdata/footage/faces-walking.mp4" "$bay/DCIM/100CAM/CLIP0002.MP4"
  printf '{"serial": "BWC-0042", "model": "BWC3", "officer": "PC 1234"}\n' >"$bay/device.json"
  chown -R "$(in_root id -u edgetriage):$(in_root id -g edgetriage)" "$bay"
}

first="$new_deb"
[ -n "$old_deb" ] && first="$old_deb"
install_deb "$first"
check_layout
in_root edgetriage version | grep -qF "$(deb_version "$first" | sed 's/+.*//')" || fail "edgetriage version: $(in_root edgetriage version)"
start_daemon

if [ -n "$old_deb" ]; then
  cp "$root/var/lib/edgetriage/keys/appliance.pub" "$work/pinned.pub"
  dock_camera
  for i in $(seq 1 120); do [ "$(objects)" -ge 2 ] && break; sleep 1; done
  sleep 3 # the offload's last events follow the objects
  stop_daemon
  before_objects="$(objects)"
  before_offloaded="$(count_events file-offloaded)"
  before_migrated="$(count_events schema-migrated)"
  [ "$before_objects" -ge 2 ] && [ "$before_offloaded" -ge 2 ] || fail "the dock offloaded $before_objects objects, $before_offloaded events"
  say "v$(deb_version "$old_deb") offloaded $before_offloaded files ($before_objects objects)"

  install_deb "$new_deb"
  check_layout
  in_root edgetriage version | grep -qF "$(deb_version "$new_deb" | sed 's/+.*//')" || fail "edgetriage version after upgrade: $(in_root edgetriage version)"
  start_daemon
  sleep 10 # the dock sees the camera still docked and must not copy it again
  stop_daemon
  [ "$(objects)" = "$before_objects" ] || fail "objects went from $before_objects to $(objects)"
  [ "$(count_events file-offloaded)" = "$before_offloaded" ] || fail "files offloaded again after the upgrade"
  [ "$(count_events ingested-again)" = 0 ] || fail "items ingested again after the upgrade"
  [ "$(count_events schema-migrated)" -gt "$before_migrated" ] || fail "no schema migration recorded by the new version"
  install -m 0644 "$work/pinned.pub" "$root/tmp/pinned.pub" # the vault's copy is 0640 (UMask=0027), root's here
  as_user edgetriage verify --data /var/lib/edgetriage --pubkey /tmp/pinned.pub >"$work/verify.log" 2>&1 ||
    { cat "$work/verify.log" >&2; fail "verify after the upgrade"; }
  say "upgraded to $(deb_version "$new_deb"): migrated, verify passes with the key pinned before, nothing offloaded again"
else
  stop_daemon
fi

say "apt-get purge edgetriage"
apt_in_root purge edgetriage >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; fail "apt-get purge"; }
[ ! -e "$root/usr/bin/edgetriage" ] || fail "binary still installed after purge"
[ ! -e "$root/etc/edgetriage/edgetriage.yaml" ] || fail "config left after purge"
[ -f "$root/var/lib/edgetriage/keys/appliance.pub" ] || fail "purge removed /var/lib/edgetriage"
if [ -n "$old_deb" ]; then
  [ "$(objects)" = "$before_objects" ] || fail "purge removed evidence objects"
fi
say "purge left /var/lib/edgetriage with its $(objects) objects"
say "PASS in $((SECONDS - started)) s"
