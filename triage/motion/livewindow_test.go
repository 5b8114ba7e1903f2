package motion

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/testkit"
)

// liveClip is a clip served over RTSP in the live-versus-file test: file
// is what file triage reads, the same bytes the publisher streams.
type liveClip struct {
	name, file string
	labels     []label
}

// TestLiveAndFileTriageFindTheSameEvents serves the labelled clips (and
// the still-scene clip) from a real RTSP server, fed by ffmpeg publishers
// in real time, to live sources, and triages the same files: both must
// find every labelled event, starting within 1 s of the label, and each
// event one finds the other must find too (within 1 s). The still scene
// gives no event either way. Times on the live side are the appliance
// clock from the moment the server relayed each clip's first packet, so
// network and decoding delay count against it.
func TestLiveAndFileTriageFindTheSameEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	labels := loadLabels(t)
	// The tree clip is Cinepak, which RTSP does not carry: a camera would
	// have encoded it as H.264, so both sides get that.
	tree := filepath.Join(dir, "tree.mp4")
	ffmpeg(t, "-i", footage+"tree-nuisance.avi", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", "30", "-bf", "0", "-an", tree)
	clips := []liveClip{
		{"room", footage + "room-people-enter-leave.mp4", labels["room-people-enter-leave.mp4"]},
		{"tree", tree, labels["tree-nuisance.avi"]},
		{"still", stillScene(t, dir), nil},
	}
	srv := testkit.StartRTSP(t)
	for _, c := range clips {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			compareLiveAndFile(t, srv, c)
		})
	}
}

func compareLiveAndFile(t *testing.T, srv *testkit.RTSPServer, c liveClip) {
	file, err := Analyze(context.Background(), c.file, DefaultConfig())
	if err != nil {
		t.Fatalf("%s: file triage: %v", c.name, err)
	}
	srv.PublishOnce(t, c.name, c.file)
	t0 := srv.FirstPacket(t, c.name)
	src := startLiveSource(t, c.name, srv.URL(c.name))
	end := t0.Add(secs(file.Duration))
	time.Sleep(time.Until(end.Add(time.Second)))
	live := src.Window(t0, end)

	t.Logf("%s: file %s| live %s| live watched %s, unwatched %v", c.name, spans(file.Events), spans(live.Result.Events),
		spanString(live.Watched, t0), live.Unwatched)
	for _, l := range c.labels {
		if !startsNear(file.Events, l.Enter, 1) {
			t.Errorf("%s: file triage: %s entering at %.1f s not found", c.name, l.What, l.Enter)
		}
		if !startsNear(live.Result.Events, l.Enter, 1) {
			t.Errorf("%s: live: %s entering at %.1f s not found", c.name, l.What, l.Enter)
		}
	}
	if missed := unmatched(file.Events, live.Result.Events); len(missed) > 0 {
		t.Errorf("%s: file triage events live did not find: %s", c.name, spans(missed))
	}
	if extra := unmatched(live.Result.Events, file.Events); len(extra) > 0 {
		t.Errorf("%s: live events file triage did not find: %s", c.name, spans(extra))
	}
	if c.labels == nil && (len(live.Result.Events) > 0 || len(file.Events) > 0) {
		t.Errorf("%s: a still scene gives events", c.name)
	}
	for _, e := range live.Result.Events {
		if len(e.Thumbnail) < 1000 || string(e.Thumbnail[:2]) != "\xff\xd8" {
			t.Errorf("%s: live event at %.1f s has no JPEG thumbnail (%d bytes)", c.name, e.Start, len(e.Thumbnail))
		}
	}
	if len(live.Result.Alerts) > 0 || len(file.Alerts) > 0 {
		t.Errorf("%s: tamper alerts on an untouched camera: live %+v file %+v", c.name, live.Result.Alerts, file.Alerts)
	}
	// The source connects after the clip has started, then waits for a
	// keyframe and learns the scene for 2 s: the clip's first seconds are
	// not watched, and a window over them says so.
	if live.Complete || len(live.Unwatched) == 0 || live.Unwatched[0].Start != 0 {
		t.Errorf("%s: want the first seconds unwatched and the window incomplete, got complete=%v unwatched %v", c.name, live.Complete, live.Unwatched)
	}
	if len(live.Watched) == 0 {
		t.Fatalf("%s: nothing watched", c.name)
	}
	// What the camera's analysis cost is counted (BenchmarkLiveAnalysis
	// reports it).
	if st := src.Stats(); st.Frames < int64(live.Result.Frames) || st.DecodeCPU <= 0 || st.AnalysisCPU <= 0 {
		t.Errorf("%s: stats %+v: frames, decoder and analysis CPU must all be counted", c.name, st)
	}
	// From then on to the last frame analysed, all of it was watched, at
	// the live analysis rate.
	from, to := live.Watched[0].From, live.Watched[len(live.Watched)-1].To
	rest := src.Window(from, to)
	if want := int(4.5 * to.Sub(from).Seconds()); !rest.Complete || len(rest.Unwatched) != 0 || rest.Result.Frames < want {
		t.Errorf("%s: from its first watched moment on, the clip should be wholly watched at 5 frames a second: complete=%v unwatched %v frames %d, want %d",
			c.name, rest.Complete, rest.Unwatched, rest.Result.Frames, want)
	}
}

// unmatched lists the events of a that no event of b matches: overlapping,
// starting within 1 s of it.
func unmatched(a, b []Event) []Event {
	var out []Event
	for _, e := range a {
		found := false
		for _, o := range b {
			if math.Abs(o.Start-e.Start) <= 1 && o.Start <= e.End && o.End >= e.Start {
				found = true
			}
		}
		if !found {
			out = append(out, e)
		}
	}
	return out
}

// TestWindowMergesFileTriageOfUnwatchedTime: a segment only partly
// watched is triaged from its file; the merged result takes the file's
// events, live's alerts where live watched, and the file's alerts only
// where it did not, which are the only ones still to be raised.
func TestWindowMergesFileTriageOfUnwatchedTime(t *testing.T) {
	w := LiveWindow{
		Result:    Result{Alerts: []Alert{{At: 6, Kind: AlertCovered, Detail: "live"}}},
		Unwatched: []Span{{Start: 0, End: 3.5}},
	}
	file := Result{
		Events: []Event{{Start: 1, End: 4}},
		Alerts: []Alert{{At: 2, Kind: AlertMoved, Detail: "file, unwatched"}, {At: 6.1, Kind: AlertCovered, Detail: "file, watched"}},
	}
	merged, fresh := w.Merge(file)
	if len(merged.Events) != 1 || merged.Events[0].Start != 1 {
		t.Errorf("merged events %+v, want the file's", merged.Events)
	}
	got := fmt.Sprint(merged.Alerts)
	if len(merged.Alerts) != 2 || !strings.Contains(got, "file, unwatched") || !strings.Contains(got, "live") || strings.Contains(got, "file, watched") {
		t.Errorf("merged alerts %s: want live's and the file's unwatched one, in time order", got)
	}
	if merged.Alerts[0].At != 2 {
		t.Errorf("merged alerts out of order: %s", got)
	}
	if len(fresh) != 1 || fresh[0].Detail != "file, unwatched" {
		t.Errorf("fresh alerts %+v, want only the file's in unwatched time", fresh)
	}
}

// TestClipSplitsAWindowIntoWatchedAndUnwatched covers the bookkeeping
// Window's coverage rests on, edges included.
func TestClipSplitsAWindowIntoWatchedAndUnwatched(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(secs(s)) }
	watched := []Interval{{at(-5), at(2)}, {at(4), at(6)}, {at(9), at(20)}}
	in, out := clip(watched, at(0), at(10))
	if want := "[0.0..2.0] [4.0..6.0] [9.0..10.0] "; spanString(in, t0) != want {
		t.Errorf("watched %s, want %s", spanString(in, t0), want)
	}
	if want := "[{2 4} {6 9}]"; fmt.Sprint(out) != want {
		t.Errorf("unwatched %v, want %s", out, want)
	}
	if covers(watched, at(0), at(10)) || !covers(watched, at(10), at(19)) {
		t.Error("covers: wrong")
	}
	if _, out := clip(nil, at(0), at(3)); fmt.Sprint(out) != "[{0 3}]" {
		t.Errorf("nothing watched: unwatched %v", out)
	}
}
