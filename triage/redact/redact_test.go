package redact

import (
	"image"
	"path/filepath"
	"testing"
)

// The Solvay photograph looped into a 5 s clip: at least 27 of its 29 faces
// must be covered on every frame of the output.
func TestSolvayFacesCoveredEveryFrame(t *testing.T) {
	master := loopStill(t, filepath.Join(footage, "faces-29-still.png"), 5, 10)
	refs := readRefBoxes(t, filepath.Join(footage, "faces-29-still.boxes.txt"))
	delete(refs, "detection_0") // a patch of wall, not a face
	if len(refs) != 29 {
		t.Fatalf("reference has %d faces, want 29", len(refs))
	}
	// The check itself must see an unredacted face as uncovered.
	if _, c, _, _ := coverage(t, master, master, func(f int) map[string]image.Rectangle {
		if f > 2 {
			return nil
		}
		return refs
	}); len(c) != 0 {
		t.Fatalf("coverage check calls faces of the master covered: %v", c)
	}
	r := newRedactorT(t, Config{})
	out := renderT(t, r, master, nil)
	frames, covered, _, _ := coverage(t, master, out.Path, func(int) map[string]image.Rectangle { return refs })
	if frames != 50 {
		t.Fatalf("output has %d frames, want 50", frames)
	}
	all := 0
	for name := range refs {
		if covered[name] == frames {
			all++
		} else {
			t.Logf("%s %v covered on %d of %d frames", name, refs[name], covered[name], frames)
		}
	}
	t.Logf("summary: %+v", out.Summary)
	if all < 27 {
		t.Errorf("%d of 29 faces covered on every frame, want >= 27", all)
	}
}

// faces-walking: both people walk towards a corridor camera; their faces
// (20-35 px) are labelled by hand on every frame in testdata. Both must be
// covered on every frame of the output, with the Thorough profile (the
// defaults are held to the same by the test below).
func TestWalkingFacesCoveredEveryFrame(t *testing.T) {
	master := filepath.Join(footage, "faces-walking.mp4")
	labels := readLabels(t, "testdata/faces-walking.labels.txt")
	r := newRedactorT(t, Thorough())
	out := renderT(t, r, master, nil)
	frames, covered, seen, missed := coverage(t, master, out.Path, func(f int) map[string]image.Rectangle { return labels[f] })
	if frames != 35 || len(labels) != 35 {
		t.Fatalf("output has %d frames, labels %d, want 35", frames, len(labels))
	}
	for _, who := range []string{"woman", "man"} {
		if covered[who] != seen[who] || seen[who] != 35 {
			t.Errorf("%s covered on %d of %d labelled frames; not on %v", who, covered[who], seen[who], missed[who])
		}
	}
	if out.Summary.FaceTracks < 2 {
		t.Errorf("summary has %d face tracks, want at least 2", out.Summary.FaceTracks)
	}
	t.Logf("summary: detect_every=%d face_tracks=%d qa=%+v", out.Summary.DetectEvery, out.Summary.FaceTracks, out.Summary.QA)
}

// The defaults (the daemon's and the CLI's: detection every 6th frame
// here) must still cover both walking faces on every frame.
func TestWalkingFacesCoveredRealtimeProfile(t *testing.T) {
	master := filepath.Join(footage, "faces-walking.mp4")
	labels := readLabels(t, "testdata/faces-walking.labels.txt")
	r := newRedactorT(t, Realtime())
	out := renderT(t, r, master, nil)
	if out.Summary.DetectEvery != 6 {
		t.Errorf("detect_every %d, want 6 at 12 fps", out.Summary.DetectEvery)
	}
	checkLabelsCovered(t, master, out.Path, labels, func(r image.Rectangle) image.Rectangle { return r })
}
