#!/usr/bin/env bash
# Installs the Debian packages edgetriage builds and tests against, only those
# that are missing, so it is cheap to run before every build.
set -euo pipefail

packages=(
  ca-certificates gcc g++ pkg-config make git        # cgo for gocv, module downloads
  libopencv-dev opencv-data                          # OpenCV 4.6 and its cascades
  ffmpeg                                             # probing, publishing test streams, transcodes
  gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0       # an independent RTSP server for interop tests
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  python3-gi gstreamer1.0-tools
  chromium                                           # browser tests (chromedp)
  util-linux e2fsprogs procps                        # small disks for retention tests; flock, setsid
  curl                                               # the S3 test server's signed readiness check
  systemd binutils                                   # systemd-analyze (unit tests), readelf (make deb)
  debootstrap                                        # the package's install test in a fresh Debian root
  postgresql                                         # central's state (scripts/pgserver.sh runs its own cluster)
  espeak-ng                                          # speech for the audio redaction and voice activity tests
  openssl                                            # the loopback RFC 3161 TSA of the custody log tests (openssl ts -reply)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
