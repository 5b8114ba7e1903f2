#!/usr/bin/env bash
# make demo: the appliance on its defaults plus a local RTSP camera and a
# docked body camera built from the sample footage, so a newcomer sees the
# pipeline move within a minute: offload, recording, triage, redaction and
# sync to ./synced, all on the dashboard at http://127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/edgetriage
footage=testdata/footage

python=/usr/bin/python3
[ -x "$python" ] || python=python3
"$python" capture/rtsp/testdata/gst_rtsp_server.py 127.0.0.1 8554 /cam "$PWD/$footage/room-people-enter-leave.mp4" &
camera=$!
trap 'kill $camera 2>/dev/null || true' EXIT

# A body camera arrives in bay 1 a few seconds after the daemon starts,
# whole, the way a mount appears.
(
  sleep 5
  staging=$(mktemp -d)
  mkdir -p "$staging/bay-1/DCIM/100BWC"
  cp "$footage/faces-walking.mp4" "$staging/bay-1/DCIM/100BWC/CLIP0001.MP4"
  cp "$footage/parking-cars.mp4" "$staging/bay-1/DCIM/100BWC/CLIP0002.MP4"
  printf '<gpx><trk><name>demo patrol</name></trk></gpx>\n' > "$staging/bay-1/DCIM/100BWC/CLIP0001.GPX"
  printf '{"serial":"DEMO-0001","model":"BWC-3","firmware":"1.2.0","battery":"88","officer":"PC 4711"}\n' > "$staging/bay-1/device.json"
  mkdir -p dock
  rm -rf dock/bay-1
  mv "$staging/bay-1" dock/bay-1
  echo "demo: a body camera was docked in dock/bay-1" >&2
) &

"./$bin" serve --config configs/demo.yaml
