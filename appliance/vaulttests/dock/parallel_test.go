package dock_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/testkit"
)

// countingVault is the real vault with a count of copies in flight, to see
// the dock's bound from outside.
type countingVault struct {
	*vault.Vault
	now, peak atomic.Int64

	mu    sync.Mutex
	spans map[string][2]time.Time // per bay: first copy started, last copy ended
}

func (c *countingVault) IngestReader(ctx context.Context, r io.Reader, in evidence.Intake) (evidence.Item, bool, error) {
	bay := in.Labels["bay"]
	c.mu.Lock()
	if sp, ok := c.spans[bay]; !ok || sp[0].IsZero() {
		c.spans[bay] = [2]time.Time{time.Now(), {}}
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		sp := c.spans[bay]
		sp[1] = time.Now()
		c.spans[bay] = sp
		c.mu.Unlock()
	}()
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return c.Vault.IngestReader(ctx, r, in)
}

// Three cameras docked at once are offloaded side by side, never more than
// two copies at a time in total, and the dashboard's JSON shows each bay and
// file with bytes, rate and ETA while they copy.
func TestBaysInParallelBoundedCopies(t *testing.T) {
	root := filepath.Join(t.TempDir(), "dock")
	must(t, os.MkdirAll(root, 0o755))
	real := openPlainVault(t, t.TempDir())
	cv := &countingVault{Vault: real, spans: map[string][2]time.Time{}}
	d, err := dock.New(dock.Options{Vault: cv, State: real.State("dock"), Config: dock.Config{Root: root,
		RescanInterval: 100 * time.Millisecond, Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}})
	must(t, err)
	dock.SetReadHook(d, func(rel string, r io.Reader) io.Reader { return slowReader{r, 30 * time.Millisecond} })
	staging := t.TempDir()
	for i := range 3 {
		bay := filepath.Join(staging, fmt.Sprintf("bay%d", i))
		writeIdentity(t, bay, identity{Serial: fmt.Sprintf("BWC-P%d", i)})
		for j := range 3 {
			writeRandom(t, filepath.Join(bay, "DCIM", "100BWC", fmt.Sprintf("C%d.MP4", j)), int64(4+2*i+3*j)<<20, camClock)
		}
	}
	runDock(t, d)
	for i := range 3 {
		must(t, os.Rename(filepath.Join(staging, fmt.Sprintf("bay%d", i)), filepath.Join(root, fmt.Sprintf("bay%d", i))))
	}
	var sawJSON bool
	testkit.WaitFor(t, "three bays done", 120*time.Second, func() bool {
		snap := d.Progress()
		raw, err := json.Marshal(snap)
		must(t, err)
		var back struct {
			Bays []struct {
				Bay   string  `json:"bay"`
				State string  `json:"state"`
				Rate  float64 `json:"rate"`
				Files []struct {
					Path  string  `json:"path"`
					State string  `json:"state"`
					Bytes int64   `json:"bytes"`
					Total int64   `json:"total"`
					Rate  float64 `json:"rate"`
					ETA   float64 `json:"eta"`
				} `json:"files"`
			} `json:"bays"`
		}
		must(t, json.Unmarshal(raw, &back))
		done := 0
		for _, b := range back.Bays {
			if b.State == dock.BayDone {
				done++
			}
			for _, f := range b.Files {
				if f.State == dock.FileCopying && f.Bytes > 0 && f.Total >= 4<<20 && f.Rate > 0 && f.ETA >= 0 && b.Rate > 0 {
					sawJSON = true
				}
			}
		}
		return done == 3
	})
	overlaps := 0
	for a, sa := range cv.spans {
		for b, sb := range cv.spans {
			if a < b && sa[0].Before(sb[1]) && sb[0].Before(sa[1]) {
				overlaps++
			}
		}
	}
	if overlaps == 0 {
		t.Errorf("the bays were offloaded one after another: %v", cv.spans)
	}
	if !sawJSON {
		t.Error("progress never showed a file copying with bytes, rate and ETA")
	}
	if p := cv.peak.Load(); p != 2 {
		t.Errorf("peak copies in flight: %d, want 2 (bounded, and bays in parallel)", p)
	}
	left, _ := filepath.Glob(filepath.Join(root, "*", "DCIM", "*", "*"))
	if len(left) != 0 {
		t.Errorf("left on cameras: %v", left)
	}
	verifyVault(t, real)
}
