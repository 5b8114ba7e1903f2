package appliance

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/testkit"
)

// A docked clip is probed once: ingest reads its record from the MP4's
// movie box without ffprobe, triage takes the picture size from that
// record, and the one ffprobe run left is the redactor's, for the
// rotation and stream start times the record does not carry. (Before,
// ingest, triage and redaction each ran ffprobe.)
func TestDockedClipIsProbedOnceThroughTriageAndRedaction(t *testing.T) {
	runs := testkit.CountRuns(t, "ffprobe")
	var dockRoot string
	d, _ := startDaemon(t, func(c *config.Config) {
		dockRoot = c.Dock.Root
		c.Dock.RescanInterval = 200 * time.Millisecond
	})
	dockCamera(t, dockRoot, "bay-1", "BWC3-000321", "faces-walking.mp4")
	var clip evidence.Item
	testkit.WaitFor(t, "the docked clip to be triaged", 90*time.Second, func() bool {
		found := false
		d.vault.Items(func(it evidence.Item) bool {
			if it.Kind == evidence.KindVideo && it.Parent.IsZero() && filepath.Ext(it.OriginalName) == ".MP4" {
				clip, found = it, true
				return false
			}
			return true
		})
		_, done := triaged(d, clip.Digest)
		return found && done
	})
	if clip.Media.VideoCodec != "h264" || clip.Media.Width == 0 || clip.Media.Frames == 0 {
		t.Fatalf("the clip's record holds no probe result: %+v", clip.Media)
	}
	if e, _ := triaged(d, clip.Digest); e.Details["result"] == "undecodable" {
		t.Fatalf("triage could not read the clip: %v", e.Details)
	}
	if n := runs(); n != 0 {
		t.Fatalf("ffprobe ran %d times for ingest and triage, want none", n)
	}
	if _, err := pipeline.Flag(context.Background(), d.vault, clip.Digest, "user:sgt", "review"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the flagged clip to be redacted", 120*time.Second, func() bool {
		evs, _ := d.vault.ItemEvents(clip.Digest)
		for _, e := range evs {
			if e.Action == evidence.ActionRedacted {
				return true
			}
		}
		return false
	})
	if n := runs(); n != 1 {
		t.Fatalf("ffprobe ran %d times for one docked clip through ingest, triage and redaction, want 1", n)
	}
}
