package appliance

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
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
