package motion

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

const footage = "../../testdata/footage/"

type label struct {
	What       string  `json:"what"`
	Enter      float64 `json:"enter"`
	LeaveStart float64 `json:"leave_start"`
	Gone       float64 `json:"gone"`
}

func loadLabels(t *testing.T) map[string][]label {
	t.Helper()
	b, err := os.ReadFile("testdata/labels.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Clips map[string][]label `json:"clips"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Clips
}

func analyze(t *testing.T, name string, cfg Config) Result {
	t.Helper()
	res, err := Analyze(context.Background(), footage+name, cfg)
	if err != nil {
		t.Fatalf("analyze %s: %v", name, err)
	}
	return res
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ffmpeg runs ffmpeg with args, failing the test with its output on error.
func ffmpeg(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestStaticRoomHasNoEvents(t *testing.T) {
	res := analyze(t, "static-room.mp4", DefaultConfig())
	if len(res.Events) != 0 || len(res.Alerts) != 0 {
		t.Fatalf("static room: want no events or alerts, got %+v %+v", res.Events, res.Alerts)
	}
	// The 6 s clip has 60 frames, all analysed by default.
	if res.Decoded < 58 {
		t.Fatalf("analysed %d frames of 60", res.Decoded)
	}
	five := DefaultConfig()
	five.AnalysisFPS = 5
	if res := analyze(t, "static-room.mp4", five); res.Decoded < 28 || res.Decoded > 31 || len(res.Events) != 0 {
		t.Fatalf("with analysis_fps 5: analysed %d frames of a 6 s clip, want 30; events %+v", res.Decoded, res.Events)
	}
}

func TestEveryLabelledEventIsFound(t *testing.T) {
	labels := loadLabels(t)
	for clip, ls := range labels {
		res := analyze(t, clip, DefaultConfig())
		for _, l := range ls {
			if !startsNear(res.Events, l.Enter, 1) {
				t.Errorf("%s: %s entering at %.1f s: no event starts within 1 s; events %s", clip, l.What, l.Enter, spans(res.Events))
			}
			if !overlaps(res.Events, l.LeaveStart, l.Gone) {
				t.Errorf("%s: %s leaving %.1f-%.1f s: no event; events %s", clip, l.What, l.LeaveStart, l.Gone, spans(res.Events))
			}
		}
	}
}

func TestFoliageIsSuppressedWhileTheHandIsFound(t *testing.T) {
	res := analyze(t, "tree-nuisance.avi", DefaultConfig())
	hand := loadLabels(t)["tree-nuisance.avi"][0]
	for _, e := range res.Events {
		if e.End < hand.Enter-1 {
			t.Errorf("event %.2f-%.2f s before the hand: the moving leaves were counted", e.Start, e.End)
		}
	}
	if !startsNear(res.Events, hand.Enter, 1) {
		t.Errorf("hand at %.1f s not found; events %s", hand.Enter, spans(res.Events))
	}
}

func TestEventsCarryThumbnailBoxesAndZones(t *testing.T) {
	cfg := DefaultConfig()
	// People leave the room to the right: the right fifth is the "exit".
	cfg.Zones = []Zone{{Name: "exit", Polygon: Polygon{{0.8, 0}, {1, 0}, {1, 1}, {0.8, 1}}}}
	res := analyze(t, "room-people-enter-leave.mp4", cfg)
	var inExit int
	for _, e := range res.Events {
		if len(e.Thumbnail) < 1000 || string(e.Thumbnail[:2]) != "\xff\xd8" {
			t.Errorf("event %.1f s: thumbnail is not a JPEG (%d bytes)", e.Start, len(e.Thumbnail))
		}
		if len(e.Boxes) == 0 {
			t.Errorf("event %.1f s has no boxes", e.Start)
		}
		for _, s := range e.Boxes {
			for _, b := range s.Boxes {
				if b.X < 0 || b.Y < 0 || b.X+b.W > 1.0001 || b.Y+b.H > 1.0001 || s.At < e.Start || s.At > e.End {
					t.Fatalf("event %.1f-%.1f: box %+v at %.2f out of range", e.Start, e.End, b, s.At)
				}
			}
		}
		if len(e.Zones) > 0 {
			inExit++
		}
	}
	// Six people leave through the exit; nobody enters through it.
	if inExit < 6 || inExit == len(res.Events) {
		t.Errorf("%d of %d events touch the exit zone, want the 6 leaving ones", inExit, len(res.Events))
	}

	cfg.Masks = []Polygon{{{0, 0}, {1, 0}, {1, 1}, {0, 1}}}
	if res := analyze(t, "room-people-enter-leave.mp4", cfg); len(res.Events) != 0 {
		t.Errorf("whole frame masked: want no events, got %s", spans(res.Events))
	}
}

func TestResultJSONShape(t *testing.T) {
	res := analyze(t, "tree-nuisance.avi", DefaultConfig())
	var v struct {
		Events []map[string]any `json:"events"`
		Alerts []any            `json:"alerts"`
	}
	if err := json.Unmarshal([]byte(mustJSON(t, res)), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Events) == 0 || v.Alerts == nil {
		t.Fatalf("want events and an alerts array: %s", mustJSON(t, res))
	}
	for _, k := range []string{"start", "end", "score", "boxes"} {
		if _, ok := v.Events[0][k]; !ok {
			t.Errorf("event JSON lacks %q", k)
		}
	}
	if _, ok := v.Events[0]["thumbnail"]; ok {
		t.Error("thumbnail bytes leak into JSON")
	}
}

func TestConfigIsStrictAndSnakeCase(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Zones = []Zone{{Name: "door", Polygon: Polygon{{0, 0}, {0.5, 0}, {0.5, 0.5}}}}
	s := mustJSON(t, cfg)
	for _, k := range []string{`"min_event_length":"1s"`, `"merge_gap":"2s"`, `"sensitivity":0.5`, `"zones":[{"name":"door"`} {
		if !strings.Contains(s, k) {
			t.Errorf("config JSON %s lacks %s", s, k)
		}
	}
	var back Config
	if err := json.Unmarshal([]byte(s), &back); err != nil || back.MergeGap != cfg.MergeGap {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	bad := []struct {
		mutate func(*Config)
		key    string
	}{
		{func(c *Config) { c.Sensitivity = 2 }, "sensitivity"},
		{func(c *Config) { c.MergeGap = -1 }, "merge_gap"},
		{func(c *Config) { c.Masks = []Polygon{{{0, 0}, {1, 1}}} }, "masks[0]"},
		{func(c *Config) { c.Zones = []Zone{{Name: "a", Polygon: Polygon{{0, 0}, {2, 0}, {0, 1}}}} }, "zones[0].polygon"},
		{func(c *Config) { c.Zones = []Zone{{Polygon: Polygon{{0, 0}, {1, 0}, {0, 1}}}} }, "zones[0].name"},
	}
	for _, b := range bad {
		c := DefaultConfig()
		b.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), b.key) {
			t.Errorf("want an error naming %q, got %v", b.key, err)
		}
		if _, err := Analyze(context.Background(), footage+"static-room.mp4", c); err == nil {
			t.Errorf("Analyze accepted an invalid config (%s)", b.key)
		}
	}
}

// badInputs makes the broken files the issue lists, plus garbage bytes.
func badInputs(t testing.TB) map[string]string {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	room, err := os.ReadFile(footage + "room-people-enter-leave.mp4")
	if err != nil {
		t.Fatal(err)
	}
	static, err := os.ReadFile(footage + "static-room.mp4")
	if err != nil {
		t.Fatal(err)
	}
	write := func(n string, b []byte) {
		if err := os.WriteFile(p(n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("empty.mp4", nil)
	write("truncated-moov-at-end.mp4", static[:len(static)/2])
	write("truncated-mdat.mp4", room[:len(room)*4/10])
	write("garbage.mp4", []byte(strings.Repeat("not a video at all ", 500)))
	ffmpeg(t, "-i", footage+"parking-cars.mp4", "-vn", "-c:a", "copy", p("audio-only.mp4"))
	return map[string]string{
		"empty":                 p("empty.mp4"),
		"truncated-moov-at-end": p("truncated-moov-at-end.mp4"),
		"truncated-mdat":        p("truncated-mdat.mp4"),
		"garbage":               p("garbage.mp4"),
		"audio-only":            p("audio-only.mp4"),
	}
}

func TestBadInputGivesAClearError(t *testing.T) {
	want := map[string]string{
		"empty":                 "empty file",
		"truncated-moov-at-end": "moov atom not found",
		"truncated-mdat":        "truncated",
		"garbage":               "invalid data",
		"audio-only":            "no video stream",
	}
	for name, path := range badInputs(t) {
		res, err := Analyze(context.Background(), path, DefaultConfig())
		var de *DecodeError
		if !errors.As(err, &de) || !errors.Is(err, ErrUndecodable) {
			t.Errorf("%s: want a *DecodeError, got %v", name, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, path) || !strings.Contains(strings.ToLower(msg), want[name]) {
			t.Errorf("%s: error %q should name the file and say %q", name, msg, want[name])
		}
		if pr := de.Problem(); pr.Detail != msg || (pr.Code == "empty") != (name == "empty") {
			t.Errorf("%s: problem %+v", name, pr)
		}
		if name == "truncated-mdat" && (de.Frames == 0 || res.Decoded != de.Frames) {
			t.Errorf("truncated clip: want the frames before the cut analysed, got %d (result %d)", de.Frames, res.Decoded)
		}
	}
	// Cinepak is unusual but decodable: it must analyse, not fail.
	if _, err := Analyze(context.Background(), footage+"tree-nuisance.avi", DefaultConfig()); err != nil {
		t.Errorf("Cinepak AVI: %v", err)
	}
}

func TestCancelledAnalysisStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Analyze(ctx, footage+"room-people-enter-leave.mp4", DefaultConfig())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	// Cancelled part way, with and without the prefilter: it returns soon
	// and leaves no decoding goroutine behind.
	g0 := runtime.NumGoroutine()
	for _, pre := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Prefilter = pre
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		_, err := Analyze(ctx, footage+"room-people-enter-leave.mp4", cfg)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("prefilter %v: want context.DeadlineExceeded, got %v", pre, err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("prefilter %v: cancellation took %s", pre, d)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if g := runtime.NumGoroutine(); g > g0 {
		t.Errorf("goroutines %d -> %d after cancelled analyses", g0, g)
	}
}

func startsNear(es []Event, t, tol float64) bool {
	for _, e := range es {
		if e.Start >= t-tol && e.Start <= t+tol {
			return true
		}
	}
	return false
}

func overlaps(es []Event, from, to float64) bool {
	for _, e := range es {
		if e.Start <= to && e.End >= from {
			return true
		}
	}
	return false
}

func spans(es []Event) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(time.Duration(e.Start * float64(time.Second)).Round(100 * time.Millisecond).String())
		b.WriteString("-")
		b.WriteString(time.Duration(e.End * float64(time.Second)).Round(100 * time.Millisecond).String())
		b.WriteString(" ")
	}
	return b.String()
}

// TestOpenCVDecodePathAgrees covers the decode path used when ffmpeg is
// not installed: the same clips give the same verdicts.
func TestOpenCVDecodePathAgrees(t *testing.T) {
	ctx := context.Background()
	res, err := analyzeFull(ctx, footage+"static-room.mp4", DefaultConfig())
	if err != nil || len(res.Events) != 0 {
		t.Fatalf("static room: %v %s", err, spans(res.Events))
	}
	res, err = analyzeFull(ctx, footage+"tree-nuisance.avi", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	hand := loadLabels(t)["tree-nuisance.avi"][0]
	if len(res.Events) != 1 || !startsNear(res.Events, hand.Enter, 1) {
		t.Fatalf("tree: want only the hand at %.1f s, got %s", hand.Enter, spans(res.Events))
	}
	for name, p := range badInputs(t) {
		if name == "empty" {
			continue // Analyze catches it before any decoder
		}
		if _, err := analyzeFull(ctx, p, DefaultConfig()); !errors.Is(err, ErrUndecodable) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
