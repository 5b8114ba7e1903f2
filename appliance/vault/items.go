package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// ErrNotFound is returned for a digest the vault has no record of.
var ErrNotFound = errors.New("no such item")

func getItemTx(tx *bolt.Tx, d evidence.Digest) (evidence.Item, bool, error) {
	raw := tx.Bucket(bucketItems).Get(d[:])
	if raw == nil {
		return evidence.Item{}, false, nil
	}
	var it evidence.Item
	if err := json.Unmarshal(raw, &it); err != nil {
		return it, true, fmt.Errorf("decode item %s: %w", d.Short(), err)
	}
	return it, true, nil
}

// putItemTx writes a record and the custody event that vouches for it, in
// the caller's transaction, and returns the record as stored. The event
// carries the hash of exactly the bytes stored, and those bytes decode to a
// record that encodes to them again, so what verify and a manifest's reader
// hash is what was vouched for.
func (v *Vault) putItemTx(tx *bolt.Tx, it evidence.Item, actor evidence.Actor, action evidence.Action, details map[string]string) (evidence.Item, error) {
	it = it.Sanitized()
	raw, err := encodeRecord(it)
	if err != nil {
		return it, err
	}
	old, found, err := getItemTx(tx, it.Digest)
	if err != nil {
		return it, err
	}
	v.trackRecordTx(tx, old, found, it)
	if err := tx.Bucket(bucketItems).Put(it.Digest[:], raw); err != nil {
		return it, fmt.Errorf("store item %s: %w", it.Digest.Short(), err)
	}
	details = maps.Clone(details)
	if details == nil {
		details = map[string]string{}
	}
	details["record"] = evidence.DigestBytes(raw).String()
	_, err = v.appendTx(tx, []evidence.CustodyEvent{{Actor: actor, Action: action, Item: it.Digest, Details: details}})
	return it, err
}

// encodeRecord is the one encoding of a record, checked to round-trip.
func encodeRecord(it evidence.Item) ([]byte, error) {
	raw, err := json.Marshal(it)
	if err != nil {
		return nil, fmt.Errorf("encode item %s: %w", it.Digest.Short(), err)
	}
	var back evidence.Item
	var again []byte
	if err = json.Unmarshal(raw, &back); err == nil {
		again, err = json.Marshal(back)
	}
	if err != nil || !bytes.Equal(again, raw) {
		return nil, fmt.Errorf("item %s: its record does not survive storage unchanged; refusing to store it", it.Digest.Short())
	}
	return raw, nil
}

// Item returns the record of d.
func (v *Vault) Item(d evidence.Digest) (evidence.Item, error) {
	var it evidence.Item
	var found bool
	err := v.db.View(func(tx *bolt.Tx) error {
		var err error
		it, found, err = getItemTx(tx, d)
		return err
	})
	if err != nil {
		return it, err
	}
	if !found {
		return it, fmt.Errorf("item %s: %w", d, ErrNotFound)
	}
	return it, nil
}

// Items calls fn for every record in digest order until fn returns false.
// Like Events, fn runs inside a read transaction and must not call the vault.
func (v *Vault) Items(fn func(evidence.Item) bool) error {
	return v.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketItems).Cursor()
		for k, raw := c.First(); k != nil; k, raw = c.Next() {
			var it evidence.Item
			if err := json.Unmarshal(raw, &it); err != nil {
				return fmt.Errorf("decode item %x: %w", k, err)
			}
			if !fn(it) {
				return nil
			}
		}
		return nil
	})
}

// Change is one change of an item's record, made through UpdateItem.
type Change struct {
	Actor   evidence.Actor
	Action  evidence.Action
	Details map[string]string
	// Apply edits the record; returning an error abandons the change.
	Apply func(*evidence.Item) error
}

// UpdateItem changes the mutable parts of a record (state, hold, labels) and
// records the change in the custody chain in the same transaction. The
// digest, size and bytes of an item can never change.
func (v *Vault) UpdateItem(ctx context.Context, d evidence.Digest, ch Change) (evidence.Item, error) {
	var it evidence.Item
	err := v.update(ctx, func(tx *bolt.Tx) error {
		var found bool
		var err error
		it, found, err = getItemTx(tx, d)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("item %s: %w", d, ErrNotFound)
		}
		size := it.Size
		if err := ch.Apply(&it); err != nil {
			return err
		}
		if it.Digest != d || it.Size != size {
			panic("vault: UpdateItem changed an item's identity")
		}
		it, err = v.putItemTx(tx, it, ch.Actor, ch.Action, ch.Details)
		return err
	})
	if err != nil {
		return it, fmt.Errorf("update item %s: %w", d.Short(), err)
	}
	return it, nil
}
