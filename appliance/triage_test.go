package appliance

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/testkit"
	"github.com/edgetriage/edgetriage/triage/motion"
)

func triaged(d *Daemon, dg evidence.Digest) (evidence.CustodyEvent, bool) {
	evs, _ := d.vault.ItemEvents(dg)
	for _, e := range evs {
		if e.Action == evidence.ActionTriaged {
			return e, true
		}
	}
	return evidence.CustodyEvent{}, false
}

// Every new clip is triaged once in the background: the busy parking lot
// gets events, thumbnails and a flag by rule; the empty room gets none; a
// truncated clip is marked with the decoder's error and the queue goes on.
func TestNewClipsAreTriagedFlaggedAndBrokenOnesMarked(t *testing.T) {
	d, _ := startDaemon(t, func(c *config.Config) {
		c.Triage.Flag = motion.FlagRules{LongerThan: motion.Duration(2 * time.Second)}
	})
	ctx := context.Background()
	ingest := func(name string, data []byte) evidence.Item {
		t.Helper()
		p := filepath.Join(t.TempDir(), name)
		if data == nil {
			var err error
			if data, err = os.ReadFile(filepath.Join(testFootage, name)); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(p, data, 0o644)
		it, _, err := d.vault.IngestFile(ctx, p, evidence.Intake{Source: "yard"})
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	whole, _ := os.ReadFile(filepath.Join(testFootage, "parking-cars.mp4"))
	broken := ingest("truncated.mp4", whole[:len(whole)/4])
	busy := ingest("parking-cars.mp4", nil)
	quiet := ingest("static-room.mp4", nil)
	testkit.WaitFor(t, "all three clips to be triaged", 180*time.Second, func() bool {
		_, a := triaged(d, broken.Digest)
		_, b := triaged(d, busy.Digest)
		_, c := triaged(d, quiet.Digest)
		return a && b && c
	})
	if e, _ := triaged(d, quiet.Digest); e.Details["events"] != "0" {
		t.Errorf("static room: %v", e.Details)
	}
	if it, _ := d.vault.Item(quiet.Digest); it.Labels[evidence.LabelFlagged] != "" {
		t.Errorf("static room flagged: %v", it.Labels)
	}
	b, _ := d.vault.Item(busy.Digest)
	if b.Labels["motion.segments"] == "" || b.Labels[evidence.LabelFlagged] == "" {
		t.Fatalf("parking lot after triage: %v", b.Labels)
	}
	thumbs := 0
	d.vault.Items(func(it evidence.Item) bool {
		if it.Parent == busy.Digest && it.Relation == "thumbnail" && it.Kind == evidence.KindImage {
			thumbs++
		}
		return true
	})
	if thumbs == 0 {
		t.Error("no thumbnails stored for the parking lot's events")
	}
	e, _ := triaged(d, broken.Digest)
	br, _ := d.vault.Item(broken.Digest)
	if (e.Details["result"] != "undecodable" && e.Details["result"] != "partial") || !br.HasProblem(evidence.ProblemUndecodable) {
		t.Fatalf("truncated clip: event %v, problems %v", e.Details, br.Problems)
	}
}

// An RTSP camera's segments are triaged from its live analysis: once the
// analysis watches (it connects, waits for a keyframe and learns the scene
// for 2 s), a sealed segment is not decoded again; the first, partly
// unwatched, is decoded from its file and merged. Events carry thumbnails
// cut from the live pictures, and the flag rules see them.
func TestCameraSegmentsAreTriagedFromLiveAnalysis(t *testing.T) {
	srv := testkit.StartRTSP(t)
	srv.Publish(t, "cam", filepath.Join(testFootage, "room-people-enter-leave.mp4"))
	d, _ := startDaemon(t, func(c *config.Config) {
		c.Cameras = []rtsp.Config{rtsp.Config{ID: "room", URL: srv.URL("cam"), SegmentLength: 4 * time.Second,
			SpoolDir: filepath.Join(c.DataDir, "spool")}.WithDefaults()}
		c.Triage.Flag = motion.FlagRules{LongerThan: motion.Duration(time.Second)}
	})
	segments := func() (live, merged []evidence.Item) {
		// Collected first: reading each item's events inside Items would
		// nest read transactions, which deadlock against a writer that
		// must grow the file.
		var all []evidence.Item
		d.vault.Items(func(it evidence.Item) bool {
			if it.Source == "room" && it.Kind == evidence.KindVideo && it.Parent.IsZero() {
				all = append(all, it)
			}
			return true
		})
		for _, it := range all {
			switch e, _ := triaged(d, it.Digest); e.Details["analysis"] {
			case "live":
				live = append(live, it)
			case "live+file":
				merged = append(merged, it)
			}
		}
		return live, merged
	}
	testkit.WaitFor(t, "six segments triaged from live analysis", 3*time.Minute, func() bool {
		live, _ := segments()
		return len(live) >= 6
	})
	live, merged := segments()
	if len(merged) == 0 {
		t.Error("no segment decoded again: the first one began before live analysis watched")
	}
	var withEvents int
	for _, it := range live {
		e, _ := triaged(d, it.Digest)
		if e.Details["events"] == "0" {
			continue
		}
		withEvents++
		thumbs := 0
		d.vault.Items(func(c evidence.Item) bool {
			if c.Parent == it.Digest && c.Relation == "thumbnail" {
				thumbs++
			}
			return true
		})
		if thumbs == 0 {
			t.Errorf("live-triaged segment %s with %s events has no thumbnail", it.Digest.Short(), e.Details["events"])
		}
		if got, _ := d.vault.Item(it.Digest); got.Labels[evidence.LabelFlagged] == "" {
			t.Errorf("segment %s with events %s not flagged (events longer than 1 s flag)", it.Digest.Short(), got.Labels["motion.segments"])
		}
	}
	if withEvents == 0 {
		t.Error("no live-triaged segment has an event: people walk in at 6, 18 and 23 s of every loop")
	}
}
