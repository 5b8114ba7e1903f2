package redact

import (
	"encoding/json"
	"image"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Manual edits on faces-walking (12 fps): a box added over the ceiling lamp
// for the first half second, the woman's automatic boxes removed from 1 s to
// 2 s, and the whole frame covered from 2.5 s to the end. Each shows in the
// output pixels exactly over its time range.
func TestManualEdits(t *testing.T) {
	master := filepath.Join(footage, "faces-walking.mp4")
	labels := readLabels(t, "testdata/faces-walking.labels.txt")
	lamp := image.Rect(248, 28, 292, 40)
	edits, err := ParseEdits([]byte(`[
		{"op": "add", "start_s": 0, "end_s": 0.5, "box": {"x": 240, "y": 20, "w": 60, "h": 30}, "author": "alice"},
		{"op": "remove", "start_s": 1, "end_s": 2, "box": {"x": 140, "y": 90, "w": 150, "h": 80}, "note": "witness, consented"},
		{"op": "full-frame", "start_s": 2.5, "end_s": 10}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	r := newRedactorT(t, Config{})
	out := renderT(t, r, master, edits)
	_, _, _, missed := coverage(t, master, out.Path, func(f int) map[string]image.Rectangle {
		return map[string]image.Rectangle{"lamp": lamp, "woman": labels[f]["woman"], "man": labels[f]["man"]}
	})
	want := map[string][]int{
		"lamp":  frameRange(6, 29), // covered only while the add and the full-frame edits hold
		"woman": frameRange(12, 23),
		"man":   nil,
	}
	for k, w := range want {
		if !slices.Equal(missed[k], w) {
			t.Errorf("%s uncovered on frames %v, want %v", k, missed[k], w)
		}
	}
	var lg Log
	if err := json.Unmarshal(out.Log, &lg); err != nil {
		t.Fatal(err)
	}
	sources := map[Source]int{}
	for _, f := range lg.BoxFrames {
		for _, b := range f.Boxes {
			sources[b.Source]++
			if (b.Source == SourceManual || b.Source == SourceFullFrame) && b.Edit == 0 {
				t.Errorf("frame %d: manual box without its edit number", f.Index)
			}
		}
	}
	if sources[SourceManual] != 6 || sources[SourceFullFrame] != 5 {
		t.Errorf("log has %d manual and %d full-frame boxes, want 6 and 5", sources[SourceManual], sources[SourceFullFrame])
	}
	if len(lg.Edits) != 3 || lg.Edits[0].Author != "alice" {
		t.Errorf("log does not carry the edits: %+v", lg.Edits)
	}
}

func frameRange(a, b int) []int {
	var r []int
	for i := a; i <= b; i++ {
		r = append(r, i)
	}
	return r
}

func TestParseEditsStrict(t *testing.T) {
	for _, bad := range []string{
		`[{"op": "add", "start_s": 0, "end_s": 1}]`,
		`[{"op": "blur", "start_s": 0, "end_s": 1}]`,
		`[{"op": "full-frame", "start_s": 2, "end_s": 1}]`,
		`[{"op": "full-frame", "start_s": 0, "end_s": 1, "colour": "red"}]`,
	} {
		if _, err := ParseEdits([]byte(bad)); err == nil {
			t.Errorf("ParseEdits accepted %s", bad)
		}
	}
}

// Audio is copied from the master, or dropped on request.
func TestAudioCopiedOrMuted(t *testing.T) {
	master := filepath.Join(t.TempDir(), "parking-2s.mp4")
	ffmpegT(t, "-i", filepath.Join(footage, "parking-cars.mp4"), "-t", "2", "-c", "copy", master)
	for _, mute := range []bool{false, true} {
		r := newRedactorT(t, Config{MuteAudio: mute})
		out := renderT(t, r, master, nil)
		codecs, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "csv=p=0", out.Path).Output()
		if err != nil {
			t.Fatal(err)
		}
		hasAAC := strings.Contains(string(codecs), "aac,audio")
		switch {
		case !mute && (!hasAAC || out.Summary.Audio != "copied"):
			t.Errorf("audio not copied: streams %q, summary %q", codecs, out.Summary.Audio)
		case mute && (strings.Contains(string(codecs), "audio") || out.Summary.Audio != "muted"):
			t.Errorf("audio not muted: streams %q, summary %q", codecs, out.Summary.Audio)
		}
		checkBrowserPlayable(t, out.Path)
	}
}

// FuzzParseEdits: edits come from the network (the API) and from disk; no
// input may crash the parser, and what it accepts is valid and survives a
// round trip through JSON unchanged.
func FuzzParseEdits(f *testing.F) {
	f.Add([]byte(`[{"op":"add","start_s":0,"end_s":1,"box":{"x":1,"y":2,"w":3,"h":4}}]`))
	f.Add([]byte(`[{"op":"mute","start_s":1.5,"end_s":2}]`))
	f.Add([]byte(`[{"op":"accept","start_s":0,"end_s":1,"entry":"f10-gap-t3"}]`))
	f.Add([]byte(`[{"op":"full-frame","start_s":0,"end_s":1e308}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		edits, err := ParseEdits(b)
		if err != nil {
			return
		}
		for i, e := range edits {
			if err := e.Validate(); err != nil {
				t.Fatalf("accepted edit %d is invalid: %v", i, err)
			}
		}
		again, err := json.Marshal(edits)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseEdits(again)
		if err != nil || len(back) != len(edits) {
			t.Fatalf("round trip: %v (%d of %d edits)", err, len(back), len(edits))
		}
	})
}
