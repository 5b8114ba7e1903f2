package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// An independent RTSP server (GStreamer's gst-rtsp-server) serving a real
// clip; `record` must print one well-formed line per sealed segment, and the
// vault must verify afterwards.
func TestRecordPrintsSealedSegments(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		python = "python3"
	}
	clip, _ := filepath.Abs(filepath.Join(footage, "room-people-enter-leave.mp4"))
	server := exec.Command(python, "../../../capture/rtsp/testdata/gst_rtsp_server.py", "127.0.0.1", strconv.Itoa(port), "/cam", clip)
	server.Stderr = os.Stderr
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { server.Process.Kill(); server.Wait() }()
	waitForPort(t, port)

	data := t.TempDir()
	r := run(t, "record", "--data", data, "--url", "rtsp://127.0.0.1:"+strconv.Itoa(port)+"/cam",
		"--for", "9s", "--segment", "3s", "--transport", "tcp", "--id", "front-desk")
	if r.code != 0 {
		t.Fatalf("record: exit %d\n%s", r.code, r.stderr)
	}
	line := regexp.MustCompile(`^[0-9a-f]{64}  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)  \d+(\.\d+)?$`)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 2 {
		t.Fatalf("record printed %d segment lines in 9 s of 3 s segments:\n%s\n%s", len(lines), r.stdout, r.stderr)
	}
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Fatalf("segment line %q is not '<sha256>  <start RFC3339>  <duration s>'", l)
		}
	}
	if v := verifyPinned(t, data); v.code != 0 {
		t.Fatalf("verify after recording: %s%s", v.stdout, v.stderr)
	}
}

func waitForPort(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d", port)
}
