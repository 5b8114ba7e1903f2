package media

import (
	"context"
	"crypto/rand"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/media/ffmpeg"
	"github.com/edgetriage/edgetriage/testkit"
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

// The record of an MP4 read from its moov says what ffprobe, reading the
// whole file, would have said; a fragmented MP4 (what RTSP recording
// writes) is read from its fragments' headers.
func TestProbeMP4AgreesWithFFprobe(t *testing.T) {
	fragmented := filepath.Join(t.TempDir(), "fragmented.mp4")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", footage+"parking-cars.mp4", "-c", "copy",
		"-movflags", "frag_keyframe+empty_moov+default_base_moof", fragmented)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make a fragmented MP4: %v %s", err, out)
	}
	for _, path := range []string{footage + "parking-cars.mp4", footage + "faces-walking.mp4", footage + "room-people-enter-leave.mp4",
		footage + "static-room.mp4", footage + "store-aisle.mp4", fragmented} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got, err := probeMP4(path)
			if err != nil {
				t.Fatal(err)
			}
			in, err := ffmpeg.File(path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := probeFFprobe(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Container != want.Container || got.VideoCodec != want.VideoCodec || got.AudioCodec != want.AudioCodec ||
				got.Width != want.Width || got.Height != want.Height || got.Frames != want.Frames || got.Error != want.Error {
				t.Fatalf("from the moov %+v, from ffprobe %+v", got, want)
			}
			if math.Abs(got.Duration-want.Duration) > 0.1 || math.Abs(got.FrameRate-want.FrameRate) > 0.01*want.FrameRate {
				t.Fatalf("timing from the moov %+v, from ffprobe %+v", got, want)
			}
		})
	}
}

// ffprobe runs only for what the moov reader does not describe: an MP4
// costs none, random bytes named .MP4 none (recorded as unrecognised, with
// the reason), an AVI one.
func TestProbeStartsFFprobeOnlyWhereNeeded(t *testing.T) {
	runs := testkit.CountRuns(t, "ffprobe")
	dir := t.TempDir()
	random := filepath.Join(dir, "CLIP0001.MP4")
	noise := make([]byte, 1<<20)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(random, noise, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path      string
		container string
		ffprobe   int
		broken    bool
	}{
		{footage + "parking-cars.mp4", "mov,mp4,m4a,3gp,3g2,mj2", 0, false},
		{random, Unrecognised, 0, true},
		{footage + "tree-nuisance.avi", "avi", 1, false},
		{footage + "faces-29-still.png", "png_pipe", 0, false},
		{thumbnail(t), "jpeg_pipe", 0, false},
		{truncated(t, thumbnail(t), 100), "jpeg_pipe", 0, true},
	} {
		before := runs()
		m, err := Probe(context.Background(), c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := runs() - before; got != c.ffprobe || m.Container != c.container || (m.Error != "") != c.broken {
			t.Errorf("%s: %d ffprobe runs (want %d), recorded %+v", filepath.Base(c.path), got, c.ffprobe, m)
		}
	}
}

// thumbnail is a JPEG still of a clip, as triage stores for an event.
func thumbnail(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "peak.jpg")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", footage+"parking-cars.mp4", "-frames:v", "1", p)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make a JPEG: %v %s", err, out)
	}
	return p
}

// truncated is a copy of the first n bytes of path.
func truncated(t *testing.T, path string, n int) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cut-"+filepath.Base(path))
	if err := os.WriteFile(p, data[:n], 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A still read from its header is recorded as ffprobe records it: the
// dashboard and the export read images' records the same whichever way
// they were probed.
func TestProbeImageAgreesWithFFprobe(t *testing.T) {
	for _, path := range []string{footage + "faces-29-still.png", thumbnail(t)} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, err := ffmpeg.File(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := probeImage(path, in.Format.Demuxer)
			if err != nil {
				t.Fatal(err)
			}
			want, err := probeFFprobe(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Container != want.Container || got.VideoCodec != want.VideoCodec || got.Width != want.Width ||
				got.Height != want.Height || got.Frames != want.Frames || got.Error != want.Error || got.Width == 0 {
				t.Fatalf("from the header %+v, from ffprobe %+v", got, want)
			}
		})
	}
}
