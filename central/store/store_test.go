package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/central/store"
	"github.com/edgetriage/edgetriage/central/store/pgtest"
)

func open(t *testing.T, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestMigrationsInOrder: a fresh database gets every migration; a
// database made by the first migration, with a station and an item in it,
// moves forward keeping them; running again changes nothing; two workers
// migrating at once do not collide.
func TestMigrationsInOrder(t *testing.T) {
	ctx := context.Background()
	fresh := open(t, pgtest.NewDatabase(t))
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := fresh.Migrate(ctx, 0); errs <- err }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent migration: %v", err)
		}
	}
	if v, err := fresh.Migrate(ctx, 0); err != nil || v != 4 {
		t.Fatalf("fresh database at version %d (%v), want 4", v, err)
	}

	dsn := pgtest.NewDatabase(t)
	old := open(t, dsn)
	if v, err := old.Migrate(ctx, 1); err != nil || v != 1 {
		t.Fatalf("first migration: version %d (%v)", v, err)
	}
	if err := old.AddStations(ctx, map[string]string{"st-1": "http://st-1"}); err != nil {
		t.Fatal(err)
	}
	leases, err := old.Lease(ctx, "w1", time.Minute, 1)
	if err != nil || len(leases) != 1 {
		t.Fatalf("lease: %v %v", leases, err)
	}
	d := evidence.DigestBytes([]byte("clip"))
	acked := evidence.DigestBytes([]byte("acked clip"))
	if err := old.Want(ctx, leases[0], []store.Wanted{{Seq: 7, Item: evidence.Item{Digest: d, Size: 4, Kind: evidence.KindVideo}},
		{Seq: 8, Item: evidence.Item{Digest: acked, Size: 10, Kind: evidence.KindVideo}}}, 9); err != nil {
		t.Fatal(err)
	}
	if v, err := old.Migrate(ctx, 3); err != nil || v != 3 {
		t.Fatalf("upgrade to version %d (%v), want 3", v, err)
	}
	// A receipt kept as jsonb (up to the fourth migration) stays readable.
	if err := old.Acked(ctx, leases[0], acked, []byte(`{"receipt":{"digest":"x"},"signature":"ab"}`), 12); err != nil {
		t.Fatal(err)
	}
	if v, err := old.Migrate(ctx, 0); err != nil || v != 4 {
		t.Fatalf("upgrade to version %d (%v), want 4", v, err)
	}
	items, err := old.Items(ctx, "st-1")
	if err != nil || len(items) != 2 || items[0].Digest != d || items[0].Status != store.StatusPending ||
		items[1].Status != store.StatusAcked || !json.Valid(items[1].Receipt) || items[1].ReceiptSeq != 12 {
		t.Fatalf("after the upgrade: %+v (%v)", items, err)
	}
	if _, err := old.Raise(ctx, "st-1", store.AlarmFork, "test"); err != nil {
		t.Fatalf("the second migration's table: %v", err)
	}
	// The third migration's column: a failed attempt waits before the next.
	if err := old.Failed(ctx, leases[0], d, errors.New("station answered 503"), false); err != nil {
		t.Fatal(err)
	}
	if open, err := old.Open(ctx, "st-1", 10); err != nil || len(open) != 0 {
		t.Fatalf("right after a failed attempt the item is open again: %v (%v)", open, err)
	}
}

func migrated(t *testing.T) (*store.Store, string) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	s := open(t, dsn)
	if _, err := s.Migrate(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	return s, dsn
}

// TestLeasesShareAndFence: two workers share three stations without ever
// holding the same one; when one stops renewing, the other takes its
// stations over under a new epoch, and the old holder's writes are refused.
func TestLeasesShareAndFence(t *testing.T) {
	ctx := context.Background()
	s, dsn := migrated(t)
	other := open(t, dsn)
	if err := s.AddStations(ctx, map[string]string{"a": "http://a", "b": "http://b", "c": "http://c"}); err != nil {
		t.Fatal(err)
	}
	ttl := 2 * time.Second
	w1, err := s.Lease(ctx, "w1", ttl, 2)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := other.Lease(ctx, "w2", ttl, 2)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]string{}
	for _, l := range w1 {
		held[l.Station] = "w1"
	}
	for _, l := range w2 {
		if held[l.Station] != "" {
			t.Fatalf("station %s leased by both workers", l.Station)
		}
		held[l.Station] = "w2"
	}
	if len(w1) != 2 || len(w2) != 1 {
		t.Fatalf("w1 holds %d, w2 holds %d; want 2 and 1", len(w1), len(w2))
	}
	// w1 renews within its lease: same epoch.
	again, err := s.Lease(ctx, "w1", ttl, 2)
	if err != nil || len(again) != 2 || again[0].Epoch != w1[0].Epoch {
		t.Fatalf("renewal: %+v (%v)", again, err)
	}
	// w1 dies: after its lease expires, w2 takes all three.
	time.Sleep(ttl + 500*time.Millisecond)
	taken, err := other.Lease(ctx, "w2", ttl, 3)
	if err != nil || len(taken) != 3 {
		t.Fatalf("takeover: %d stations (%v)", len(taken), err)
	}
	for _, l := range taken {
		if held[l.Station] == "w1" && l.Epoch <= w1[0].Epoch && l.Station == w1[0].Station {
			t.Fatalf("station %s taken over under the old epoch %d", l.Station, l.Epoch)
		}
	}
	d := evidence.DigestBytes([]byte("x"))
	err = s.Want(ctx, w1[0], []store.Wanted{{Seq: 1, Item: evidence.Item{Digest: d, Size: 1}}}, 1)
	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("the dead worker's write after takeover: %v, want ErrFenced", err)
	}
	if items, _ := s.Items(ctx, w1[0].Station); len(items) != 0 {
		t.Fatalf("the fenced write left %d items", len(items))
	}
}

// TestLeaseSkipsLockedRows: a lease attempt never waits on a row another
// worker holds locked in its lease transaction: it takes the others.
func TestLeaseSkipsLockedRows(t *testing.T) {
	ctx := context.Background()
	s, dsn := migrated(t)
	if err := s.AddStations(ctx, map[string]string{"a": "http://a", "b": "http://b"}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT id FROM stations WHERE id = 'a' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan []store.Lease, 1)
	go func() {
		l, err := s.Lease(ctx, "w1", time.Minute, 2)
		if err != nil {
			t.Error(err)
		}
		done <- l
	}()
	select {
	case l := <-done:
		if len(l) != 1 || l[0].Station != "b" {
			t.Fatalf("leased %+v with a locked, want only b", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lease waited on a locked row")
	}
}

// TestAlarmsOpenOncePerKind: raising an open alarm again does nothing; a
// cleared alarm stays on record and can be raised anew.
func TestAlarmsOpenOncePerKind(t *testing.T) {
	ctx := context.Background()
	s, _ := migrated(t)
	if err := s.AddStations(ctx, map[string]string{"a": "http://a"}); err != nil {
		t.Fatal(err)
	}
	first, _ := s.Raise(ctx, "a", store.AlarmSignature, "manifest 1 not signed by the pinned key")
	second, _ := s.Raise(ctx, "a", store.AlarmSignature, "again")
	if !first || second {
		t.Fatalf("raise: %v then %v, want true then false", first, second)
	}
	if ok, err := s.Clear(ctx, "a", store.AlarmSignature, "admin"); !ok || err != nil {
		t.Fatalf("clear: %v %v", ok, err)
	}
	if again, _ := s.Raise(ctx, "a", store.AlarmSignature, "third"); !again {
		t.Fatal("a cleared alarm could not be raised again")
	}
	all, err := s.Alarms(ctx, "a", false)
	if err != nil || len(all) != 2 || !all[0].Cleared.IsZero() || all[1].Cleared.IsZero() || all[1].ClearedBy != "admin" {
		t.Fatalf("alarms: %+v (%v)", all, err)
	}
}

// TestForkKeepsEvidenceAndClearingRebases: central keeps the newest
// checkpoint it co-signed (each extends the one before); a fork alarm
// holds both signed checkpoints; clearing it keeps the co-signed
// checkpoints as the record, superseded, and the witness starts afresh,
// even with a smaller tree than before.
func TestForkKeepsEvidenceAndClearingRebases(t *testing.T) {
	ctx := context.Background()
	s, _ := migrated(t)
	if err := s.AddStations(ctx, map[string]string{"a": "http://a"}); err != nil {
		t.Fatal(err)
	}
	leases, err := s.Lease(ctx, "w1", time.Minute, 1)
	if err != nil || len(leases) != 1 {
		t.Fatalf("lease: %v %v", leases, err)
	}
	l := leases[0]
	for _, size := range []int64{10, 20} {
		c := store.Checkpoint{Size: size, RootHash: fmt.Sprintf("root-%d", size), Note: fmt.Sprintf("note %d", size), CosignedNote: fmt.Sprintf("cosigned %d", size)}
		if err := s.SaveCosigned(ctx, l, c); err != nil {
			t.Fatal(err)
		}
	}
	if w, ok, err := s.Witnessed(ctx, "a"); err != nil || !ok || w.Size != 20 || w.CosignedNote != "cosigned 20" {
		t.Fatalf("witnessed: %+v %v %v, want the checkpoint of 20", w, ok, err)
	}
	if _, ok, _ := s.Cosigned(ctx, "a", 10); ok {
		t.Error("the checkpoint of 10 is kept though 20 extends it")
	}
	ev := store.ForkEvidence{Earlier: "note 20", Later: "another note 25"}
	if raised, err := s.RaiseFork(ctx, "a", "the tree of 25 does not extend 20", ev); !raised || err != nil {
		t.Fatalf("raise fork: %v %v", raised, err)
	}
	if open, _ := s.IsOpen(ctx, "a", store.AlarmFork); !open {
		t.Fatal("fork alarm not open")
	}
	alarms, _ := s.Alarms(ctx, "a", true)
	if len(alarms) != 1 || alarms[0].Evidence == nil || *alarms[0].Evidence != ev {
		t.Fatalf("fork alarm: %+v, want its evidence", alarms)
	}
	if ok, err := s.Clear(ctx, "a", store.AlarmFork, "admin:jo"); !ok || err != nil {
		t.Fatalf("clear: %v %v", ok, err)
	}
	if _, ok, _ := s.Witnessed(ctx, "a"); ok {
		t.Fatal("after the fork was cleared the witness still holds the old history")
	}
	if old, ok, _ := s.Cosigned(ctx, "a", 20); !ok || !old.Superseded || old.CosignedNote != "cosigned 20" {
		t.Fatalf("the co-signed checkpoint of the old history: %+v %v, want it kept, superseded", old, ok)
	}
	if err := s.SaveCosigned(ctx, l, store.Checkpoint{Size: 15, RootHash: "r", Note: "new 15", CosignedNote: "cosigned new 15"}); err != nil {
		t.Fatal(err)
	}
	if w, ok, _ := s.Witnessed(ctx, "a"); !ok || w.Size != 15 {
		t.Fatalf("witnessed after the rebase: %+v %v", w, ok)
	}
	if newest, _, _ := s.Cosigned(ctx, "a", 0); newest.Size != 15 {
		t.Fatalf("newest co-signed: %+v, want the current 15 before the superseded 20", newest)
	}
	if _, err := s.Lease(ctx, "w2", time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	stale := l
	stale.Epoch--
	if err := s.SaveCosigned(ctx, stale, store.Checkpoint{Size: 30, RootHash: "r", Note: "n"}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("a co-signed checkpoint saved under a lost lease: %v", err)
	}
}
