package redact

import (
	"fmt"
	"image"
	"path/filepath"
	"strings"
	"testing"
)

// farScale shrinks room-people-enter-leave (people 250-380 px high) to
// CCTV distance: people 50-76 px high, heads 10-16 px.
const farScale = 0.2

// farOffsets are the seconds of the room clip each cell of the far-people
// grid starts at: spread so that most cells show someone standing or
// walking, all different.
var farOffsets = []float64{
	8, 11, 14, 27, 30, 33, 36, 39, 52, 55,
	58, 61, 64, 77, 80, 96, 99, 102, 105, 108,
	111, 114, 117, 9.5, 31.5,
}

// farPeopleClip builds a 770x470 clip of 5x5 cells, each the room clip
// shrunk 5x from its own offset: up to 25 people 50-76 px high at once,
// seen from behind, with their head labels mapped into the grid.
func farPeopleClip(t testing.TB, seconds int) (string, func(frame int) map[string]image.Rectangle) {
	t.Helper()
	src := filepath.Join(footage, "room-people-enter-leave.mp4")
	labels := readLabels(t, "testdata/room-heads.labels.txt")
	// Each cell is a camera of its own: an 8 px black border above it
	// keeps the cell above from passing for the sky over a head.
	const cw, ch, border = 154, 94, 8
	var args []string
	var layout, inputs []string
	for i, off := range farOffsets {
		args = append(args, "-ss", fmt.Sprint(off), "-t", fmt.Sprint(seconds), "-i", src)
		inputs = append(inputs, fmt.Sprintf("[%d:v]scale=%d:%d:flags=area,pad=%d:%d:0:%d,setpts=PTS-STARTPTS[c%d]", i, cw, ch-border, cw, ch, border, i))
		layout = append(layout, fmt.Sprintf("%d_%d", (i%5)*cw, (i/5)*ch))
	}
	var cells string
	for i := range farOffsets {
		cells += fmt.Sprintf("[c%d]", i)
	}
	filter := strings.Join(inputs, ";") + ";" + cells + fmt.Sprintf("xstack=inputs=%d:layout=%s[out]", len(farOffsets), strings.Join(layout, "|"))
	clip := filepath.Join(t.TempDir(), "far-people.mp4")
	args = append(args, "-filter_complex", filter, "-map", "[out]", "-r", "10", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", clip)
	ffmpegT(t, args...)
	refs := func(frame int) map[string]image.Rectangle {
		out := map[string]image.Rectangle{}
		for i, off := range farOffsets {
			l, ok := labels[int(off*10+0.5)+frame]["person"]
			if !ok {
				continue
			}
			r := image.Rect(int(float64(l.Min.X)*farScale), int(float64(l.Min.Y)*farScale),
				int(float64(l.Max.X)*farScale+0.999), int(float64(l.Max.Y)*farScale+0.999))
			out[fmt.Sprintf("cell%02d", i)] = r.Add(image.Pt((i%5)*cw, (i/5)*ch+border))
		}
		return out
	}
	return clip, refs
}

// People at CCTV distance, seen from behind (no face to find): their heads
// (labelled in testdata, 10-16 px) are covered on at least 95% of labelled
// frames under the default People: heads, and on almost none with faces only.
func TestFarHeadsCovered(t *testing.T) {
	master, refs := farPeopleClip(t, 6)
	if _, c, seen, _ := coverage(t, master, master, refs); len(c) != 0 || len(seen) < 15 {
		t.Fatalf("the check calls heads of the master covered (%v), or too few labelled cells (%d)", c, len(seen))
	}
	rate := func(cfg Config) (float64, Output) {
		out := renderT(t, newRedactorT(t, cfg), master, nil)
		_, covered, seen, missed := coverage(t, master, out.Path, refs)
		var c, n int
		for k := range seen {
			c += covered[k]
			n += seen[k]
			if len(missed[k]) > 0 {
				t.Logf("%s: missed on %d of %d frames, first %v", k, len(missed[k]), seen[k], missed[k][:min(5, len(missed[k]))])
			}
		}
		return float64(c) / float64(n), out
	}
	heads, out := rate(Config{})
	t.Logf("heads: %.3f of labelled head-frames covered; %d person tracks; review: %s", heads, out.Summary.PersonTracks, out.Summary.QA.Review.Message)
	if heads < 0.95 {
		t.Errorf("heads covered on %.1f%% of labelled frames, want >= 95%%", 100*heads)
	}
	faces, _ := rate(Config{People: PeopleFaces})
	t.Logf("faces only: %.3f", faces)
	if faces > 0.5 {
		t.Errorf("faces only covers %.1f%% of the heads: the test does not show the person detector's work", 100*faces)
	}
}
