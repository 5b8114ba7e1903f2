package web

import (
	"context"
	"sync"
	"time"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// thumbnailsSeen remembers who has been recorded looking at which thumbnail
// today, so a dashboard redrawn every few seconds writes one custody event
// per person, thumbnail and day, not one per draw.
type thumbnailsSeen struct {
	mu   sync.Mutex
	day  string
	seen map[thumbnailView]bool
}

type thumbnailView struct {
	viewer evidence.Actor
	thumb  evidence.Digest
}

// maxThumbnailViews bounds the memory; past it the day starts over, which
// only records some views twice.
const maxThumbnailViews = 100000

// record writes a custody event for p's first look at thumb today.
func (t *thumbnailsSeen) record(ctx context.Context, v *vault.Vault, p auth.Principal, thumb evidence.Item) error {
	key := thumbnailView{p.Actor(), thumb.Digest}
	today := time.Now().UTC().Format(time.DateOnly)
	t.mu.Lock()
	if t.day != today || len(t.seen) > maxThumbnailViews {
		t.day, t.seen = today, map[thumbnailView]bool{}
	}
	first := !t.seen[key]
	t.seen[key] = true
	t.mu.Unlock()
	if !first {
		return nil
	}
	_, err := v.Append(ctx, evidence.CustodyEvent{Actor: p.Actor(), Action: evidence.ActionThumbnailViewed, Item: thumb.Digest,
		Details: map[string]string{"of": thumb.Parent.String()}})
	if err != nil {
		t.mu.Lock()
		delete(t.seen, key)
		t.mu.Unlock()
	}
	return err
}
