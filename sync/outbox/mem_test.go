package outbox_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/outbox"
	"github.com/edgetriage/edgetriage/sync/target"
)

// memStore is the outbox store kept in memory, as the daemon keeps it in
// bbolt: entries by digest, checkpoints by digest.
type memStore struct {
	mu      sync.Mutex
	entries map[evidence.Digest]outbox.Entry
	cps     map[evidence.Digest]target.Checkpoint
}

func newMemStore() *memStore {
	return &memStore{entries: map[evidence.Digest]outbox.Entry{}, cps: map[evidence.Digest]target.Checkpoint{}}
}

func (s *memStore) enqueue(d evidence.Digest, urgent bool, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[d] = outbox.Entry{Digest: d, State: outbox.StateQueued, Urgent: urgent, QueuedAt: at}
}

func (s *memStore) Due(_ context.Context, now time.Time, limit int) ([]outbox.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]outbox.Entry, 0, len(s.entries))
	for _, e := range s.entries {
		all = append(all, e)
	}
	return outbox.SelectDue(all, now, limit), nil
}

func (s *memStore) Update(_ context.Context, e outbox.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[e.Digest] = e
	return nil
}

func (s *memStore) List(context.Context) ([]outbox.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []outbox.Entry
	for _, e := range s.entries {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b outbox.Entry) int { return a.QueuedAt.Compare(b.QueuedAt) })
	return all, nil
}

func (s *memStore) entry(d evidence.Digest) outbox.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries[d]
}

func (s *memStore) LoadCheckpoint(_ context.Context, d evidence.Digest) (target.Checkpoint, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, ok := s.cps[d]
	return cp, ok, nil
}

func (s *memStore) SaveCheckpoint(_ context.Context, d evidence.Digest, cp target.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp.Parts = slices.Clone(cp.Parts)
	s.cps[d] = cp
	return nil
}

func (s *memStore) DeleteCheckpoint(_ context.Context, d evidence.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cps, d)
	return nil
}

// memCustody is a custody chain kept in memory, filled in as the vault
// fills it in: sequence, time, previous hash, hash.
type memCustody struct {
	mu     sync.Mutex
	events []evidence.CustodyEvent
}

func (c *memCustody) Append(_ context.Context, events ...evidence.CustodyEvent) ([]evidence.CustodyEvent, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]evidence.CustodyEvent, 0, len(events))
	for _, e := range events {
		if n := len(c.events); n > 0 {
			e.Seq, e.Prev = c.events[n-1].Seq+1, c.events[n-1].Hash
		} else {
			e.Seq = 1
		}
		e.Time = time.Now().UTC()
		e.Hash = e.ComputeHash()
		c.events = append(c.events, e)
		out = append(out, e)
	}
	return out, nil
}

// count returns how many events of action a name item d.
func (c *memCustody) count(d evidence.Digest, a evidence.Action) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.events {
		if e.Item == d && e.Action == a {
			n++
		}
	}
	return n
}

func (c *memCustody) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// memSource hands out vault files written by the test.
type memSource struct {
	mu    sync.Mutex
	items map[evidence.Digest]target.Object
}

func (s *memSource) Object(_ context.Context, d evidence.Digest) (target.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.items[d]
	if !ok {
		return o, fmt.Errorf("item %s not in the vault", d.Short())
	}
	return o, nil
}

// addItems writes n random files of size bytes and queues them.
func addItems(t testing.TB, src *memSource, st *memStore, n int, size int64) []evidence.Digest {
	t.Helper()
	dir := t.TempDir()
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.items == nil {
		src.items = map[evidence.Digest]target.Object{}
	}
	var ds []evidence.Digest
	base := time.Now()
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("clip-%03d.mp4", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		h := evidence.NewHasher()
		if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
			t.Fatal(err)
		}
		f.Close()
		d := h.Sum()
		src.items[d] = target.Object{Digest: d, Size: size, Path: p, Manifest: []byte(`{"item":"` + d.String() + `"}`)}
		st.enqueue(d, false, base.Add(time.Duration(i)*time.Millisecond))
		ds = append(ds, d)
	}
	return ds
}

func mkdir(p string) error { return os.MkdirAll(p, 0o755) }
