package appliance

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/appliance/web"
)

// TestChangesFeedFilter: central asks the feed for what the force's policy
// names (flagged items, every item from some origins, some kinds) and gets
// exactly that, while the cursor still passes every change; a bad filter is
// refused with the parameter named.
func TestChangesFeedFilter(t *testing.T) {
	// Triage off: its events would move the cursor between the feeds read
	// below.
	d, base := startDaemon(t, func(c *config.Config) { c.Triage.Enabled = false })
	ctx := context.Background()
	dir := t.TempDir()
	ingest := func(name, origin string) evidence.Digest {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		it, _, err := d.vault.IngestFile(ctx, p, evidence.Intake{Source: "cam", Labels: map[string]string{"origin": origin}})
		if err != nil {
			t.Fatal(err)
		}
		return it.Digest
	}
	dockClip := ingest("dock.mp4", "dock")
	dockGPX := ingest("dock.gpx", "dock")
	rtspClip := ingest("rtsp.mp4", "rtsp")
	flaggedRTSP := ingest("flagged.mp4", "rtsp")
	ingest("cli.mp4", "cli")
	if _, err := d.vault.UpdateItem(ctx, flaggedRTSP, vaultLabel(evidence.LabelFlagged, "motion in zone door")); err != nil {
		t.Fatal(err)
	}
	token, _, err := d.auth.AddToken(ctx, "user:admin", "hq", 0)
	if err != nil {
		t.Fatal(err)
	}
	hq := centralClientT{t: t, base: base, token: token}
	feed := func(query string) ([]evidence.Digest, uint64) {
		resp, b := hq.do("GET", "/api/v1/central/changes?limit=1000&"+query, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s %s", query, resp.Status, b)
		}
		var page struct {
			Changes []web.Change `json:"changes"`
			Next    uint64       `json:"next"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		var out []evidence.Digest
		for _, c := range page.Changes {
			if !slices.Contains(out, c.Item.Digest) {
				out = append(out, c.Item.Digest)
			}
		}
		return out, page.Next
	}
	all, allNext := feed("")
	policy, policyNext := feed("flagged=true&origin=dock")
	videos, _ := feed("flagged=true&origin=dock&kind=video")
	// The filtered cursor passes every change the unfiltered one did
	// (later events may have come in between the two reads).
	if len(all) != 5 || policyNext < allNext {
		t.Fatalf("unfiltered feed: %d items, cursor %d; filtered cursor %d", len(all), allNext, policyNext)
	}
	if !sameSet(policy, []evidence.Digest{dockClip, dockGPX, flaggedRTSP}) {
		t.Fatalf("flagged + dock: %v, want the dock clip, its GPX track and the flagged RTSP clip", policy)
	}
	if !sameSet(videos, []evidence.Digest{dockClip, flaggedRTSP}) {
		t.Fatalf("flagged + dock, videos only: %v", videos)
	}
	if got, _ := feed("origin=rtsp"); !sameSet(got, []evidence.Digest{rtspClip, flaggedRTSP}) {
		t.Fatalf("origin rtsp: %v", got)
	}
	for _, bad := range []string{"flagged=yes", "kind=hologram"} {
		resp, b := hq.do("GET", "/api/v1/central/changes?"+bad, nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %s %s", bad, resp.Status, b)
		}
	}
}

func sameSet(a, b []evidence.Digest) bool {
	if len(a) != len(b) {
		return false
	}
	for _, d := range a {
		if !slices.Contains(b, d) {
			return false
		}
	}
	return true
}

func vaultLabel(key, value string) vault.Change {
	return vault.Change{Actor: "staff:test", Action: evidence.ActionFlagged, Details: map[string]string{"label": key},
		Apply: func(it *evidence.Item) error {
			if it.Labels == nil {
				it.Labels = map[string]string{}
			}
			it.Labels[key] = value
			return nil
		}}
}
