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
	if _, c, _ := coverage(t, master, master, func(f int) map[string]image.Rectangle {
		if f > 2 {
			return nil
		}
		return refs
	}); len(c) != 0 {
		t.Fatalf("coverage check calls faces of the master covered: %v", c)
	}
	r := newRedactorT(t, Config{})
	out := renderT(t, r, master, nil)
	frames, covered, _ := coverage(t, master, out.Path, func(int) map[string]image.Rectangle { return refs })
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
