package redact

import (
	"encoding/json"
	"image"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func reviewOptsT(frames int) reviewOpts {
	return reviewOpts{fps: 10, frames: frames, bounds: image.Rect(0, 0, 768, 576), cad: cadence{every: 5, personEvery: 5, pad: 5, personPad: 5},
		lowScore: 0.7, perTen: 20, mergeGap: 1, maxSpan: 5, minFaceSide: 20}
}

// walk makes a track of a box moving right by dx per detection frame, seen
// on every detection frame in frames [from, to] except those in missed.
func walk(id int, kind Kind, from, to int, box image.Rectangle, dx int, missed ...int) *track {
	t := &track{id: id}
	for f := from; f <= to; f += 5 {
		if slices.Contains(missed, f) {
			continue
		}
		b := box.Add(image.Pt(dx*(f-from)/5, 0))
		t.obs = append(t.obs, observation{f, Detection{Box: b, Score: 0.9, Kind: kind, Detector: DetectorBlazeFace}})
	}
	return t
}

// A face walking in from the left edge and out at the right, found on every
// detection frame, gives the reviewer nothing to do.
func TestReviewCleanTrackIsEmpty(t *testing.T) {
	tr := walk(1, KindFace, 0, 200, image.Rect(0, 200, 30, 236), 18)
	r := buildReview([]*track{tr}, nil, reviewOptsT(210))
	if len(r.Entries) != 0 {
		t.Fatalf("clean track queued %d entries: %+v", len(r.Entries), r.Entries)
	}
	if !strings.Contains(r.Message, "nothing to review") {
		t.Errorf("message %q", r.Message)
	}
}

// A face missed for two seconds in mid-frame, and another lost in
// mid-frame while the clip goes on, are queued with their reasons; the gap
// (riskier) ranks first. Overlapping doubts merge into one stop.
func TestReviewGapAndLostTrack(t *testing.T) {
	gappy := walk(1, KindFace, 0, 300, image.Rect(0, 200, 30, 236), 12, 100, 105, 110, 115)
	lost := walk(2, KindFace, 0, 150, image.Rect(0, 100, 30, 136), 20)
	r := buildReview([]*track{gappy, lost}, nil, reviewOptsT(400))
	if len(r.Entries) == 0 {
		t.Fatal("nothing queued")
	}
	var reasons []string
	for _, e := range r.Entries {
		for _, w := range e.Why {
			reasons = append(reasons, w.Reason)
			if w.Text == "" {
				t.Errorf("entry %s: cause %s has no text", e.ID, w.Reason)
			}
		}
	}
	for _, want := range []string{ReasonGap, ReasonLostMidFrame} {
		if !slices.Contains(reasons, want) {
			t.Errorf("reasons %v lack %s", reasons, want)
		}
	}
	if r.Entries[0].Rank != 1 || r.Entries[0].Risk < r.Entries[len(r.Entries)-1].Risk {
		t.Errorf("not ranked by risk: %+v", r.Entries)
	}
	gap := r.Entries[0]
	if gap.Start > 9.5 || gap.End < 12 || gap.Frame < 95 || gap.Frame > 125 {
		t.Errorf("gap entry %+v does not span the missed stretch (frames 95-120)", gap)
	}
	again := buildReview([]*track{gappy, lost}, nil, reviewOptsT(400))
	for i := range r.Entries {
		if again.Entries[i].ID != r.Entries[i].ID {
			t.Errorf("entry ids differ between two builds: %s, %s", r.Entries[i].ID, again.Entries[i].ID)
		}
	}
}

// Sixty single detections spread over 80 s are more than anyone reviews:
// the queue keeps the 20 riskiest (the face-sized ones first) and counts the rest.
func TestReviewCappedAndSummarised(t *testing.T) {
	var tracks []*track
	for i := 0; i < 60; i++ {
		side := 8
		if i%4 == 0 {
			side = 30
		}
		f := 10 + i*13
		box := image.Rect(100+i*5, 300, 100+i*5+side, 300+side)
		tracks = append(tracks, &track{id: i + 1, obs: []observation{{f, Detection{Box: box, Score: 0.6, Kind: KindFace}}}})
	}
	r := buildReview(tracks, nil, reviewOptsT(800))
	if len(r.Entries) > 20 || r.Cap != 20 {
		t.Fatalf("%d entries, cap %d; want at most 20", len(r.Entries), r.Cap)
	}
	if r.Dropped[ReasonSingle] == 0 || !strings.Contains(r.Message, "not queued") {
		t.Errorf("dropped stops not summarised: %v %q", r.Dropped, r.Message)
	}
	for _, e := range r.Entries[:10] {
		if e.Boxes[0].Box.H != 30 {
			t.Errorf("rank %d is a %d px box; the face-sized ones should rank first", e.Rank, e.Boxes[0].Box.H)
		}
	}
}

// A head the person detector found, large enough for a face, without any
// face detection on it: the two detectors disagree and the reviewer looks.
func TestReviewDetectorDisagreement(t *testing.T) {
	head := walk(1, KindHead, 0, 100, image.Rect(0, 100, 24, 128), 30)
	r := buildReview([]*track{head}, map[int][]image.Rectangle{}, reviewOptsT(110))
	found := false
	for _, e := range r.Entries {
		for _, w := range e.Why {
			found = found || w.Reason == ReasonNoFace
		}
	}
	if !found {
		t.Errorf("no disagreement queued: %+v", r.Entries)
	}
	faces := map[int][]image.Rectangle{}
	for _, ob := range head.obs {
		faces[ob.frame] = []image.Rectangle{ob.det.Box.Inset(4)}
	}
	for _, e := range buildReview([]*track{head}, faces, reviewOptsT(110)).Entries {
		for _, w := range e.Why {
			if w.Reason == ReasonNoFace {
				t.Errorf("disagreement queued although a face was found on every detection: %+v", e)
			}
		}
	}
}

// Sign-off waits for every entry: accept edits (or fixes) naming them.
func TestReviewUnresolved(t *testing.T) {
	gappy := walk(1, KindFace, 0, 300, image.Rect(0, 200, 30, 236), 12, 100, 105, 110, 115)
	r := buildReview([]*track{gappy}, nil, reviewOptsT(400))
	if got := r.Unresolved(nil); len(got) != len(r.Entries) || len(got) == 0 {
		t.Fatalf("unresolved %v, entries %d", got, len(r.Entries))
	}
	var edits []ManualEdit
	for _, e := range r.Entries[1:] {
		edits = append(edits, ManualEdit{Op: EditAccept, Start: e.Start, End: e.End, Entry: e.ID})
	}
	if got := r.Unresolved(edits); !slices.Equal(got, []string{r.Entries[0].ID}) {
		t.Errorf("unresolved %v, want only %s", got, r.Entries[0].ID)
	}
	b := r.Entries[0].Boxes[0].Box
	edits = append(edits, ManualEdit{Op: EditAdd, Start: r.Entries[0].Start, End: r.Entries[0].End, Box: &b, Entry: r.Entries[0].ID})
	if got := r.Unresolved(edits); len(got) != 0 {
		t.Errorf("still unresolved: %v", got)
	}
	if _, err := ParseEdits([]byte(`[{"op":"accept","start_s":0,"end_s":1}]`)); err == nil {
		t.Error("accept without an entry was accepted")
	}
}

// On real footage the summary carries the queue, short, and the log keeps
// the raw flags.
func TestReviewOnWalkingFaces(t *testing.T) {
	r := newRedactorT(t, Config{})
	out := renderT(t, r, filepath.Join(footage, "faces-walking.mp4"), nil)
	rv := out.Summary.QA.Review
	if len(rv.Entries) > rv.Cap || rv.Cap != 20 || out.Summary.QA.Flags != nil {
		t.Errorf("summary review: %d entries, cap %d, flags in summary %d", len(rv.Entries), rv.Cap, len(out.Summary.QA.Flags))
	}
	var lg Log
	if err := json.Unmarshal(out.Log, &lg); err != nil {
		t.Fatal(err)
	}
	if len(lg.QA.Review.Entries) != len(rv.Entries) {
		t.Errorf("log review has %d entries, summary %d", len(lg.QA.Review.Entries), len(rv.Entries))
	}
	t.Logf("review: %s", rv.Message)
	for _, e := range rv.Entries {
		t.Logf("  #%d risk %.2f %.1f-%.1f s: %s", e.Rank, e.Risk, e.Start, e.End, e.Why[0].Text)
	}
}

// The first 80 s of a fixed indoor camera where people come in one at a
// time, stand, and leave, seen from behind, redacted with the daemon's
// default profile (Realtime): the queue stays within 20 stops, ranked, each
// saying why.
func TestReviewQueueOn80Seconds(t *testing.T) {
	master := filepath.Join(t.TempDir(), "room-80s.mp4")
	ffmpegT(t, "-i", filepath.Join(footage, "room-people-enter-leave.mp4"), "-t", "80", "-an", "-c", "copy", master)
	out := renderT(t, newRedactorT(t, Realtime()), master, nil)
	rv := out.Summary.QA.Review
	t.Logf("%d person tracks, %d face tracks, %d raw QA flags; review: %s", out.Summary.PersonTracks, out.Summary.FaceTracks, out.Summary.QAFlags, rv.Message)
	if out.Summary.PersonTracks == 0 {
		t.Errorf("no person found in 80 s with people in most of it")
	}
	if len(rv.Entries) > 20 {
		t.Errorf("%d review entries for 80 s, want at most 20", len(rv.Entries))
	}
	for i, e := range rv.Entries {
		t.Logf("  #%d risk %.2f %.1f-%.1f s: %s", e.Rank, e.Risk, e.Start, e.End, e.Why[0].Text)
		if e.Rank != i+1 || (i > 0 && e.Risk > rv.Entries[i-1].Risk) {
			t.Errorf("entry %d: rank %d, risk %.2f after %.2f: not ranked", i, e.Rank, e.Risk, rv.Entries[max(0, i-1)].Risk)
		}
		for _, w := range e.Why {
			if w.Reason == "" || len(w.Text) < 20 {
				t.Errorf("entry %s: a cause without its reason or text: %+v", e.ID, w)
			}
		}
	}
}
