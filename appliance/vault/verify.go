package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
)

// Finding is one thing verify found wrong. Item or Seq names the culprit.
type Finding struct {
	Item evidence.Digest `json:"item,omitzero"`
	Seq  uint64          `json:"seq,omitempty"`
	What string          `json:"what"`
}

func (f Finding) String() string {
	switch {
	case !f.Item.IsZero():
		return fmt.Sprintf("item %s: %s", f.Item, f.What)
	case f.Seq != 0:
		return fmt.Sprintf("event %d: %s", f.Seq, f.What)
	}
	return f.What
}

// Report is the outcome of Verify.
type Report struct {
	Items       int    `json:"items"`
	Removed     int    `json:"removed"`
	Bytes       int64  `json:"bytes"`
	Events      uint64 `json:"events"`
	Checkpoints int    `json:"checkpoints"`
	// Cosigned counts the checkpoints witnesses co-signed.
	Cosigned int `json:"cosigned"`
	// Timestamps counts the checkpoints a TSA stamped; TrustedTimes are
	// those whose token verified against VerifyOptions.TSARoots.
	Timestamps   int                            `json:"timestamps"`
	TrustedTimes []custodylog.StampedCheckpoint `json:"trusted_times,omitempty"`
	// Fingerprint is the key the checkpoints were checked with, and Pinned
	// says whether the caller supplied it: an unpinned key was read from
	// the vault being checked, so it proves integrity, never origin.
	Fingerprint string    `json:"key_fingerprint,omitempty"`
	Pinned      bool      `json:"pinned"`
	Findings    []Finding `json:"findings,omitempty"`
	// Notes explain what looked wrong but the chain accounts for, such as
	// checkpoint times that run backwards across a recorded clock jump.
	Notes []string `json:"notes,omitempty"`
}

// VerifyOptions say what Verify may trust; none of it comes from the vault.
type VerifyOptions struct {
	// Pinned is the appliance key as recorded outside the vault (the
	// fingerprint printed at first start, central's copy). Nil falls back
	// to the key the chain names, and the report says it is not pinned.
	Pinned ed25519.PublicKey
	// CheckpointInterval is how often the daemon signs the chain head
	// (its checkpoint_interval; default one minute). Events older than
	// twice that, or a minute more, which no checkpoint covers are a finding.
	CheckpointInterval time.Duration
	// Now is the clock unsigned events are judged by; default time.Now.
	Now func() time.Time
	// Progress, when not nil, is told the bytes hashed so far.
	Progress func(hashed int64)
	// Witnesses are the witnesses' keys the caller pins; cosignatures by
	// them are checked, others are reported as unchecked.
	Witnesses []note.Verifier
	// Cosigned are checkpoints co-signed by a witness, obtained outside
	// the vault (from central): the vault's history must extend each.
	Cosigned [][]byte
	// TSARoots are the time-stamp authorities' certificates the caller
	// trusts; nil leaves the checkpoints' TSA tokens unchecked.
	TSARoots *x509.CertPool
}

func (o *VerifyOptions) defaults() {
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// signingGrace is how long an event may wait for a checkpoint before its
// absence is a finding: the daemon signs every interval, and at shutdown.
func (o VerifyOptions) signingGrace() time.Duration {
	return o.CheckpointInterval + max(o.CheckpointInterval, time.Minute)
}

// OK reports whether nothing was found wrong.
func (r Report) OK() bool { return len(r.Findings) == 0 }

func (r *Report) add(f Finding) { r.Findings = append(r.Findings, f) }

// chainState is what walking the chain learns for checking the rest.
type chainState struct {
	hashes     map[uint64]evidence.Digest
	times      map[uint64]time.Time
	tree       *compact.Range      // the log's tree, rebuilt from the events
	roots      map[int64]tlog.Hash // its root at the sizes checkpoints name
	wantRoots  map[int64]bool
	lastRecord map[evidence.Digest]evidence.Digest
	recordSeq  map[evidence.Digest]uint64
	key        ed25519.PublicKey
	head       uint64
	headAction evidence.Action
	jumps      []clockJump // the clock-jump events, in chain order
}

// Verify re-hashes every stored item, walks the whole custody chain, checks
// every checkpoint signature with the pinned key, that signed checkpoints
// cover the chain, and every record against the record hash its newest
// custody event carries.
func (v *Vault) Verify(ctx context.Context, opts VerifyOptions) (Report, error) {
	opts.defaults()
	var r Report
	if v.keyErr != nil {
		r.add(Finding{What: v.keyErr.Error()})
	}
	sigs, err := v.readSignatures(opts)
	if err != nil {
		return r, err
	}
	cs, err := v.verifyChain(&r, sigs.sizes())
	if err != nil {
		return r, err
	}
	newest, err := v.verifyCheckpoints(&r, cs, opts)
	if err != nil {
		return r, err
	}
	if key := v.verifyKey(cs, opts); key != nil {
		newest = newest.then(&r, cs.jumps, v.verifyLog(&r, cs, sigs, key, opts))
		checkCoverage(&r, cs, newest, opts)
	}
	if err := v.verifyItems(ctx, &r, cs, opts.Progress); err != nil {
		return r, err
	}
	return r, nil
}

func (v *Vault) verifyChain(r *Report, wantRoots map[int64]bool) (chainState, error) {
	cs := chainState{hashes: map[uint64]evidence.Digest{}, times: map[uint64]time.Time{},
		lastRecord: map[evidence.Digest]evidence.Digest{}, recordSeq: map[evidence.Digest]uint64{},
		tree: treeFactory.NewEmptyRange(0), roots: map[int64]tlog.Hash{}, wantRoots: wantRoots}
	err := v.db.View(func(tx *bolt.Tx) error {
		var prev *evidence.CustodyEvent
		return tx.Bucket(bucketCustody).ForEach(func(k, raw []byte) error {
			r.Events++
			keySeq := binary.BigEndian.Uint64(k)
			e, err := decodeEvent(raw)
			if err != nil {
				r.add(Finding{Seq: keySeq, What: "cannot be read: " + err.Error()})
				return nil
			}
			v.checkEvent(r, &cs, prev, keySeq, e)
			prev = &e
			return nil
		})
	})
	return cs, err
}

func (v *Vault) checkEvent(r *Report, cs *chainState, prev *evidence.CustodyEvent, keySeq uint64, e evidence.CustodyEvent) {
	if e.Seq != keySeq {
		r.add(Finding{Seq: keySeq, What: fmt.Sprintf("stored at position %d but claims to be event %d (events moved)", keySeq, e.Seq)})
	}
	if prev == nil && e.Seq != 1 {
		r.add(Finding{Seq: e.Seq, What: "the chain does not start at event 1"})
	}
	if err := evidence.CheckLink(prev, e); err != nil {
		msg := strings.TrimSuffix(err.Error(), ": "+evidence.ErrChainBroken.Error())
		msg = strings.TrimPrefix(msg, fmt.Sprintf("event %d: ", e.Seq))
		if e.ComputeHash() != e.Hash && e.HoldsReplacementCharacter() {
			msg += " (it holds U+FFFD where text that was not UTF-8 was stored by a version before 0.2: the event was damaged as it was stored, not necessarily edited since)"
		}
		r.add(Finding{Seq: e.Seq, What: msg})
	}
	cs.hashes[keySeq] = e.Hash
	cs.times[keySeq] = e.Time
	cs.addLeaf(e)
	if keySeq >= cs.head {
		cs.head, cs.headAction = keySeq, e.Action
	}
	if e.Action == evidence.ActionClockJump {
		cs.jumps = append(cs.jumps, readClockJump(e))
	}
	if e.Action == evidence.ActionKeyCreated && cs.key == nil {
		cs.key = parseChainKey(e)
	}
	if rec, ok := e.Details["record"]; ok && !e.Item.IsZero() {
		d, err := evidence.ParseDigest(rec)
		if err != nil {
			r.add(Finding{Seq: e.Seq, What: "record hash unreadable"})
			return
		}
		cs.lastRecord[e.Item] = d
		cs.recordSeq[e.Item] = e.Seq
	}
}

// verifyCheckpoints checks the chain's key against the pinned one and the
// checkpoints of the hash chain (written before the Merkle log; kept and
// checked as they were), and returns the newest head they sign.
func (v *Vault) verifyCheckpoints(r *Report, cs chainState, opts VerifyOptions) (signedHead, error) {
	r.Pinned = opts.Pinned != nil
	switch {
	case cs.key == nil:
		r.add(Finding{What: "the chain names no signing key (key-created event missing or altered)"})
	case opts.Pinned != nil && !opts.Pinned.Equal(cs.key):
		r.add(Finding{What: fmt.Sprintf("the chain was started with key %s, not the pinned key %s: its history was written under another key",
			evidence.KeyID(cs.key), evidence.KeyID(opts.Pinned))})
	}
	key := v.verifyKey(cs, opts)
	if key == nil {
		return signedHead{}, nil
	}
	r.Fingerprint = evidence.Fingerprint(key)
	var newest signedHead
	err := v.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCheckpoints).ForEach(func(k, raw []byte) error {
			r.Checkpoints++
			var cp evidence.Checkpoint
			if err := json.Unmarshal(raw, &cp); err != nil {
				r.add(Finding{What: fmt.Sprintf("checkpoint %x cannot be read: %v", k, err)})
				return nil
			}
			if err := evidence.VerifyCheckpoint(key, cp); err != nil {
				r.add(Finding{Seq: cp.Seq, What: err.Error()})
				return nil
			}
			checkSignedHead(r, cs, cp)
			newest = newest.then(r, cs.jumps, signedHead{cp.Seq, cp.Time})
			return nil
		})
	})
	return newest, err
}

// signedHead is a checkpoint reduced to what coverage needs: up to which
// event it signs, and when.
type signedHead struct {
	seq  uint64
	time time.Time
}

// then is the later of two heads in chain order; a later head signed
// before an earlier one is reported: clocks set back to re-sign history.
func (h signedHead) then(r *Report, jumps []clockJump, next signedHead) signedHead {
	if next.seq < h.seq {
		h, next = next, h
	}
	if next.time.Before(h.time) {
		if j, ok := explainBackwards(jumps, h, next); ok {
			r.Notes = append(r.Notes, j)
			return next
		}
		r.add(Finding{Seq: next.seq, What: fmt.Sprintf("checkpoint signed at %s, before the checkpoint of event %d (%s): checkpoint times run backwards",
			next.time.Format(time.RFC3339), h.seq, h.time.Format(time.RFC3339))})
	}
	return next
}

// checkSignedHead compares a validly signed checkpoint with the chain.
func checkSignedHead(r *Report, cs chainState, cp evidence.Checkpoint) {
	head, ok := cs.hashes[cp.Seq]
	switch {
	case !ok:
		r.add(Finding{Seq: cp.Seq, What: "signed by a checkpoint but missing from the chain"})
	case head != cp.Head:
		r.add(Finding{Seq: cp.Seq, What: "differs from the event the checkpoint signed"})
	case cp.Time.Before(cs.times[cp.Seq]):
		r.add(Finding{Seq: cp.Seq, What: fmt.Sprintf("signed at %s, before the event's own time %s",
			cp.Time.Format(time.RFC3339), cs.times[cp.Seq].Format(time.RFC3339))})
	}
}

// checkClosed reports a chain that ends neither with an orderly close nor
// with a fresh checkpoint. The daemon re-signs its head every interval while
// it runs and records its close, so such a chain was left by a crash, or
// was cut back to an older checkpoint together with the ones after it.
func checkClosed(r *Report, cs chainState, newest signedHead, opts VerifyOptions) {
	if cs.headAction == evidence.ActionVaultClosed {
		return
	}
	age := opts.Now().Sub(newest.time)
	if age <= opts.signingGrace() {
		return
	}
	r.add(Finding{Seq: cs.head, What: fmt.Sprintf("the chain ends here (%s), not with the vault closed in order, and its newest checkpoint was signed %s ago (at %s) though the head is re-signed every %s: the daemon crashed then, or the history after that checkpoint was cut away",
		cs.headAction, age.Round(time.Second), newest.time.Format(time.RFC3339), opts.CheckpointInterval)})
}

// checkCoverage reports events that no checkpoint vouches for although the
// daemon would have signed them by now: without that, a chain edited and
// re-hashed from some event on, or cut short, would still look whole.
func checkCoverage(r *Report, cs chainState, newest signedHead, opts VerifyOptions) {
	if cs.head == 0 {
		return
	}
	if newest.seq >= cs.head {
		checkClosed(r, cs, newest, opts)
		return
	}
	first := newest.seq + 1
	age := opts.Now().Sub(cs.times[first])
	// A vault closed in order signed its close; only a running (or
	// crashed) daemon leaves its newest events unsigned for a while.
	if age <= opts.signingGrace() && cs.headAction != evidence.ActionVaultClosed {
		return
	}
	what := fmt.Sprintf("events %d to %d are covered by no signed checkpoint; the first of them is %s old and the head is signed every %s: the daemon stopped without signing, or the history from event %d on was rewritten",
		first, cs.head, age.Round(time.Second), opts.CheckpointInterval, first)
	if newest.seq == 0 {
		what = fmt.Sprintf("there is no signed checkpoint: all %d events are covered by no signed checkpoint; the first is %s old", cs.head, age.Round(time.Second))
	}
	r.add(Finding{Seq: first, What: what})
}

func (v *Vault) verifyItems(ctx context.Context, r *Report, cs chainState, progress func(int64)) error {
	seen := map[evidence.Digest]bool{}
	var items []storedRecord
	err := v.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketItems).ForEach(func(k, raw []byte) error {
			var it evidence.Item
			if err := json.Unmarshal(raw, &it); err != nil || [32]byte(k) != it.Digest {
				r.add(Finding{Item: evidence.Digest(k), What: "record cannot be read or is filed under another digest"})
				return nil
			}
			items = append(items, storedRecord{it, evidence.DigestBytes(raw)})
			return nil
		})
	})
	if err != nil {
		return err
	}
	var hashed int64
	for _, rec := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		it := rec.item
		seen[it.Digest] = true
		r.Items++
		v.checkRecord(r, cs, rec)
		if it.State == evidence.StateRemoved {
			r.Removed++
			continue
		}
		hashed += v.checkBytes(r, it)
		if progress != nil {
			progress(hashed)
		}
	}
	r.Bytes = hashed
	for d, seq := range cs.recordSeq {
		if !seen[d] {
			r.add(Finding{Item: d, What: fmt.Sprintf("record missing from the index (its last event is %d)", seq)})
		}
	}
	return v.eachObject(func(d evidence.Digest, path string) error {
		if !seen[d] && cs.recordSeq[d] == 0 {
			r.add(Finding{Item: d, What: "file in the object store has no record and no custody event"})
		}
		return nil
	})
}

// storedRecord is a record as decoded and the hash of its stored bytes,
// which is what its custody event vouched for.
type storedRecord struct {
	item evidence.Item
	hash evidence.Digest
}

func (v *Vault) checkRecord(r *Report, cs chainState, rec storedRecord) {
	it := rec.item
	want, ok := cs.lastRecord[it.Digest]
	switch {
	case !ok:
		r.add(Finding{Item: it.Digest, What: "record has no custody event"})
	case rec.hash != want:
		r.add(Finding{Item: it.Digest, What: fmt.Sprintf("record differs from the one event %d recorded (edited outside the vault)", cs.recordSeq[it.Digest])})
	}
}

// checkBytes re-hashes an item's file and returns the bytes read.
func (v *Vault) checkBytes(r *Report, it evidence.Item) int64 {
	f, err := os.Open(v.ObjectPath(it.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		r.add(Finding{Item: it.Digest, What: "file is missing from the object store"})
		return 0
	}
	if err != nil {
		r.add(Finding{Item: it.Digest, What: "file cannot be opened: " + err.Error()})
		return 0
	}
	defer f.Close()
	got, n, err := evidence.DigestOf(f)
	switch {
	case err != nil:
		r.add(Finding{Item: it.Digest, What: "file cannot be read: " + err.Error()})
	case n != it.Size:
		r.add(Finding{Item: it.Digest, What: fmt.Sprintf("file has %d bytes, the record says %d", n, it.Size)})
	case got != it.Digest:
		r.add(Finding{Item: it.Digest, What: "file content does not match its digest (now " + got.Short() + ")"})
	}
	return n
}

// ChainKey is the public key the chain's key-created event names, nil when
// it names none. Verify uses it only when the caller pins nothing, and then
// says so: it was read from the data being checked.
func (v *Vault) ChainKey() ed25519.PublicKey {
	var key ed25519.PublicKey
	v.Events(1, func(e evidence.CustodyEvent) bool {
		if e.Action != evidence.ActionKeyCreated {
			return true
		}
		key = parseChainKey(e)
		return false
	})
	return key
}

func parseChainKey(e evidence.CustodyEvent) ed25519.PublicKey {
	raw, err := hex.DecodeString(e.Details["public_key"])
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil
	}
	return ed25519.PublicKey(raw)
}
