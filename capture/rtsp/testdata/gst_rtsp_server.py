#!/usr/bin/python3
"""An independent RTSP server for interop tests: GStreamer's gst-rtsp-server
serving an H.264 MP4 file, stream-copied (no encoder needed), each client
getting the clip from its start.

usage: gst_rtsp_server.py HOST PORT MOUNT CLIP.mp4
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

host, port, mount, clip = sys.argv[1:5]
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address(host)
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f'( filesrc location="{clip}" ! qtdemux name=d d.video_0 ! queue ! h264parse config-interval=-1 '
    "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)
factory.set_shared(False)
server.get_mount_points().add_factory(mount, factory)
if server.attach(None) == 0:
    sys.exit("gst-rtsp-server: cannot listen on %s:%s" % (host, port))
print("gst-rtsp-server: serving %s at rtsp://%s:%s%s" % (clip, host, port, mount), file=sys.stderr, flush=True)
GLib.MainLoop().run()
