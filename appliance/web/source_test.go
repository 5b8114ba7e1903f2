package web

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const footage = "../../testdata/footage"

// A CCTV recorder writes fragmented MP4; its samples must come out exactly
// as from the same stream in a progressive file.
func TestFragmentedMP4MatchesProgressive(t *testing.T) {
	frag := filepath.Join(t.TempDir(), "segment.mp4")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", filepath.Join(footage, "parking-cars.mp4"),
		"-an", "-c", "copy", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", frag).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	ref, err := openClip(filepath.Join(footage, "parking-cars.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	fc, err := openClip(frag)
	if err != nil {
		t.Fatalf("fragmented clip: %v", err)
	}
	defer fc.Close()
	a, b := fc.from(0), ref.from(0)
	n := 0
	for {
		fa, ea := a.next()
		fb, eb := b.next()
		if ea != nil || eb != nil {
			if ea != eb {
				t.Fatalf("frame %d: %v vs %v", n, ea, eb)
			}
			break
		}
		if !bytes.Equal(fa.data, fb.data) || fa.pos != fb.pos || fa.key != fb.key {
			t.Fatalf("frame %d differs", n)
		}
		n++
	}
	if n != 377 {
		t.Fatalf("%d frames, ffprobe counts 377", n)
	}
	// A seek lands on the keyframe at or before the wanted time (every
	// 60 frames, 4.8 s, in this clip).
	if f, _ := fc.from(10 * time.Second).next(); !f.key || f.pos != 9600*time.Millisecond {
		t.Fatalf("seek to 10 s starts at %v (key %v)", f.pos, f.key)
	}
}

func TestBFramesNeedTranscoding(t *testing.T) {
	_, err := openClip(filepath.Join(footage, "faces-walking.mp4"))
	if !errors.Is(err, errNeedsTranscode) {
		t.Fatalf("clip with B-frames: %v", err)
	}
	_, err = openClip(filepath.Join(footage, "tree-nuisance.avi"))
	if !errors.Is(err, errNeedsTranscode) {
		t.Fatalf("AVI: %v", err)
	}
}
