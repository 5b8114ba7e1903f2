package vault

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

func noticed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(200 * time.Millisecond):
		return false
	}
}

// A follower hears of every committed append, and of nothing else: not of
// state writes, not of a transaction that was rolled back, and not after it
// unsubscribed.
func TestSubscribersHearOfCommittedAppendsOnly(t *testing.T) {
	v := openVault(t, t.TempDir())
	ctx := context.Background()
	ch, stop := v.Subscribe()
	other, stopOther := v.Subscribe()
	defer stopOther()

	if _, _, err := v.IngestReader(ctx, strings.NewReader("clip"), evidence.Intake{Source: "cam"}); err != nil {
		t.Fatal(err)
	}
	if !noticed(ch) || !noticed(other) {
		t.Fatal("an ingest was not noticed by both subscribers")
	}
	if err := v.State("stage").Put(ctx, "cursor", []byte{1}); err != nil {
		t.Fatal(err)
	}
	if noticed(ch) {
		t.Fatal("a state write was noticed as an append")
	}
	failed := errors.New("later step failed")
	err := v.update(ctx, func(tx *bolt.Tx) error {
		if _, err := v.appendTx(tx, []evidence.CustodyEvent{{Actor: "test", Action: evidence.ActionAlarm}}); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("update: %v", err)
	}
	if noticed(ch) {
		t.Fatal("a rolled-back append was noticed")
	}
	// Many appends while the subscriber is busy leave one notice, not a
	// queue that blocks the writer.
	for range 50 {
		if _, err := v.Append(ctx, evidence.CustodyEvent{Actor: "test", Action: evidence.ActionAlarm}); err != nil {
			t.Fatal(err)
		}
	}
	if !noticed(ch) || noticed(ch) {
		t.Fatal("50 appends while busy did not leave exactly one notice")
	}
	stop()
	if _, err := v.Append(ctx, evidence.CustodyEvent{Actor: "test", Action: evidence.ActionAlarm}); err != nil {
		t.Fatal(err)
	}
	if noticed(ch) {
		t.Fatal("noticed after unsubscribing")
	}
}
