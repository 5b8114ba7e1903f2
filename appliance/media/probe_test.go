package media

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

const footage = "../../testdata/footage/"

func TestProbeRealClip(t *testing.T) {
	m, err := Probe(context.Background(), footage+"parking-cars.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if m.Error != "" || m.VideoCodec != "h264" || m.AudioCodec != "aac" || m.Width != 768 || m.Height != 432 {
		t.Fatalf("parking-cars probed as %+v", m)
	}
	if m.FrameRate < 12.4 || m.FrameRate > 12.6 || m.Duration < 30 || m.Duration > 30.5 || m.Frames != 377 {
		t.Fatalf("parking-cars timing probed as %+v", m)
	}
}

func TestProbeBrokenFilesKeepDecoderError(t *testing.T) {
	src, err := os.ReadFile(footage + "parking-cars.mp4")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cases := map[string][]byte{
		"truncated.mp4": src[:len(src)/3],
		"noise.mp4":     []byte(strings.Repeat("not a video ", 100)),
		"empty.mp4":     nil,
	}
	for name, data := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Probe(context.Background(), p)
		if err != nil {
			t.Fatalf("%s: probe failed to run: %v", name, err)
		}
		if m.Error == "" {
			t.Errorf("%s: probed as healthy: %+v", name, m)
		}
	}
}

func TestKindOf(t *testing.T) {
	for name, want := range map[string]evidence.Kind{
		"DCIM/100/CLIP0001.MP4": evidence.KindVideo, "track.GPX": evidence.KindSidecar,
		"still.png": evidence.KindImage, "README": evidence.KindOther,
	} {
		if got := KindOf(name); got != want {
			t.Errorf("KindOf(%q) = %s, want %s", name, got, want)
		}
	}
}
