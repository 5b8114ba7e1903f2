package central

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
)

// fakeLog is a station's custody log as the fault tests serve it: events
// chained as the vault chains them (format 2, each item's events linked by
// item_prev), an RFC 6962 tree over them in tlog's stored-hash layout, and
// checkpoints signed with the station's key, so central checks it with the
// same library code it uses on a real station.
type fakeLog struct {
	key    ed25519.PrivateKey
	events []evidence.CustodyEvent
	hashes []tlog.Hash
}

func newFakeLog(key ed25519.PrivateKey, actions ...string) *fakeLog {
	l := &fakeLog{key: key}
	for _, a := range actions {
		l.append(evidence.CustodyEvent{Actor: "system", Action: evidence.Action(a)})
	}
	return l
}

// ReadHashes serves the stored hashes to tlog.
func (l *fakeLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = l.hashes[x]
	}
	return out, nil
}

func (l *fakeLog) size() int64 { return int64(len(l.events)) }

// append chains e to the log and grows the tree by its leaf.
func (l *fakeLog) append(e evidence.CustodyEvent) evidence.CustodyEvent {
	e.V, e.Seq = evidence.EventFormat, uint64(len(l.events))+1
	if e.Time.IsZero() {
		e.Time = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(e.Seq) * time.Second)
	}
	if len(l.events) > 0 {
		e.Prev = l.events[len(l.events)-1].Hash
	}
	if !e.Item.IsZero() {
		for i := len(l.events) - 1; i >= 0; i-- {
			if l.events[i].Item == e.Item {
				e.ItemPrev = l.events[i].Hash
				break
			}
		}
	}
	e.Hash = e.ComputeHash()
	hs, err := tlog.StoredHashes(int64(len(l.events)), e.Hash[:], l)
	if err != nil {
		panic("fakeLog: " + err.Error())
	}
	l.hashes = append(l.hashes, hs...)
	l.events = append(l.events, e)
	return e
}

// ingest records an item the way the vault does: an ingested event
// vouching for the record's exact bytes.
func (l *fakeLog) ingest(it evidence.Item) []byte {
	record, _ := json.Marshal(it)
	l.append(evidence.CustodyEvent{Actor: "dock:bay-1", Action: evidence.ActionIngested, Item: it.Digest,
		Details: map[string]string{"record": evidence.DigestBytes(record).String()}})
	return record
}

// checkpoint signs the tree as it is now with signer (the station's key,
// or another for a forgery).
func (l *fakeLog) checkpoint(signer ed25519.PrivateKey) []byte {
	root, err := tlog.TreeHash(l.size(), l)
	if err != nil {
		panic("fakeLog: " + err.Error())
	}
	pub := signer.Public().(ed25519.PublicKey)
	signed, err := custodylog.Sign(signer, custodylog.Checkpoint{Origin: custodylog.Origin(pub), Size: l.size(), Root: root, Time: time.Now().UTC()})
	if err != nil {
		panic("fakeLog: " + err.Error())
	}
	return signed
}

func (l *fakeLog) consistency(older, newer int64) ([]tlog.Hash, error) {
	if older < 1 || older > newer || newer > l.size() {
		return nil, fmt.Errorf("no proof for %d..%d of %d events", older, newer, l.size())
	}
	return tlog.ProveTree(newer, older, l)
}

// manifest is a v2 manifest of item it (whose ingest wrote record),
// signed by signer: its events, the log's checkpoint now and an inclusion
// proof of its newest event.
func (l *fakeLog) manifest(signer ed25519.PrivateKey, it evidence.Item, record []byte) []byte {
	var events []evidence.CustodyEvent
	for _, e := range l.events {
		if e.Item == it.Digest {
			events = append(events, e)
		}
	}
	newest := events[len(events)-1]
	proof, err := tlog.ProveRecord(l.size(), int64(newest.Seq-1), l)
	if err != nil {
		panic("fakeLog: " + err.Error())
	}
	pub := signer.Public().(ed25519.PublicKey)
	m := evidence.ManifestV2{PublicKey: hex.EncodeToString(pub), Record: record, Events: events, Checkpoint: string(l.checkpoint(signer)),
		Proofs: []evidence.EventProof{{Seq: newest.Seq, Hashes: custodylog.EncodeHashes(proof)}}}
	raw, err := evidence.Seal(signer, evidence.TypeManifest, m)
	if err != nil {
		panic("fakeLog: " + err.Error())
	}
	return raw
}
