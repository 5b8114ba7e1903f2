package outbox

import (
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

func TestSelectDueOrdersUrgentFirstAndSkipsWaitingAndDone(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	d := func(s string) evidence.Digest { return evidence.DigestBytes([]byte(s)) }
	entries := []Entry{
		{Digest: d("old"), State: StateQueued, QueuedAt: now.Add(-3 * time.Hour)},
		{Digest: d("urgent"), State: StateQueued, Urgent: true, QueuedAt: now.Add(-time.Minute)},
		{Digest: d("backing-off"), State: StateUploading, QueuedAt: now.Add(-4 * time.Hour), NextAttempt: now.Add(time.Minute)},
		{Digest: d("done"), State: StateVerified, QueuedAt: now.Add(-5 * time.Hour)},
		{Digest: d("half-sent"), State: StateUploaded, QueuedAt: now.Add(-2 * time.Hour)},
	}
	due := SelectDue(entries, now, 10)
	want := []evidence.Digest{d("urgent"), d("old"), d("half-sent")}
	if len(due) != len(want) {
		t.Fatalf("due: %d entries, want %d", len(due), len(want))
	}
	for i, e := range due {
		if e.Digest != want[i] {
			t.Fatalf("position %d: %s, want %s", i, e.Digest.Short(), want[i].Short())
		}
	}
	if got := SelectDue(entries, now, 1); len(got) != 1 || got[0].Digest != d("urgent") {
		t.Fatalf("limit 1: %v", got)
	}
}
