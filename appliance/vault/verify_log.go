package vault

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
)

// treeFactory rebuilds the log's tree from the events in O(log n) memory:
// verify trusts the events it re-hashes, not the stored tree.
var treeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// verifyKey is the key checkpoints are checked with: the pinned one, else
// (reported as unpinned) the one the chain names.
func (v *Vault) verifyKey(cs chainState, opts VerifyOptions) ed25519.PublicKey {
	if opts.Pinned != nil {
		return opts.Pinned
	}
	return cs.key
}

// logSignatures are the signed notes verify checks against the events.
type logSignatures struct {
	checkpoints [][]byte // the appliance's own, oldest first
	cosigned    [][]byte // stored ones, then the caller's
	stamps      []storedStamp
}

func (s logSignatures) sizes() map[int64]bool {
	out := map[int64]bool{}
	for _, raw := range append(append([][]byte{}, s.checkpoints...), s.cosigned...) {
		if c, ok := noteBody(raw); ok {
			out[c.Size] = true
		}
	}
	for _, st := range s.stamps {
		out[st.size] = true
	}
	return out
}

// noteBody reads what a signed note says without checking its signature.
func noteBody(raw []byte) (custodylog.Checkpoint, bool) {
	text, _, _ := bytes.Cut(raw, []byte("\n\n"))
	c, err := custodylog.ParseBody(string(text) + "\n")
	return c, err == nil
}

func (v *Vault) readSignatures(opts VerifyOptions) (logSignatures, error) {
	var s logSignatures
	err := v.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketLogCheckpoints); b != nil {
			b.ForEach(func(_, raw []byte) error { s.checkpoints = append(s.checkpoints, bytes.Clone(raw)); return nil })
		}
		if b := tx.Bucket(bucketCosignatures); b != nil {
			b.ForEach(func(_, raw []byte) error { s.cosigned = append(s.cosigned, bytes.Clone(raw)); return nil })
		}
		return nil
	})
	s.cosigned = append(s.cosigned, opts.Cosigned...)
	if err != nil {
		return s, err
	}
	s.stamps, err = v.readStamps()
	return s, err
}

// addLeaf grows the rebuilt tree by event e (as its content hashes now, so
// an edited event changes every root after it) and keeps the root at the
// sizes checkpoints name.
func (cs *chainState) addLeaf(e evidence.CustodyEvent) {
	e.Hash = e.ComputeHash()
	leaf := custodylog.LeafHash(e)
	if err := cs.tree.Append(leaf[:], nil); err != nil {
		panic("vault: appending to a compact range: " + err.Error())
	}
	if size := int64(cs.tree.End()); cs.wantRoots[size] {
		cs.roots[size] = cs.root()
	}
}

func (cs *chainState) root() tlog.Hash {
	raw, err := cs.tree.GetRootHash(nil)
	if err != nil {
		panic("vault: root of a compact range: " + err.Error())
	}
	var h tlog.Hash
	copy(h[:], raw)
	return h
}

// verifyLog checks the Merkle log: each checkpoint note's signature and its
// root against the events, each witness's cosigned checkpoint likewise
// (what proves a rewrite even by someone holding the key), and that the
// stored tree, which proofs are served from, is the events' tree. It
// returns the newest head the notes sign.
func (v *Vault) verifyLog(r *Report, cs chainState, sigs logSignatures, key ed25519.PublicKey, opts VerifyOptions) signedHead {
	var newest signedHead
	for _, raw := range sigs.checkpoints {
		r.Checkpoints++
		c, _, err := custodylog.Open(raw, key)
		if err != nil {
			r.add(Finding{What: "a checkpoint of the log: " + err.Error()})
			continue
		}
		at := c.Time.Format(time.RFC3339)
		switch root, ok := cs.roots[c.Size]; {
		case !ok:
			r.add(Finding{Seq: uint64(c.Size), What: fmt.Sprintf("the log's checkpoint of %d events (signed at %s) covers events the chain no longer has: it was cut", c.Size, at)})
		case root != c.Root:
			r.add(Finding{Seq: uint64(c.Size), What: fmt.Sprintf("the log's checkpoint of %d events (signed at %s) does not match the events: the history up to event %d changed after it was signed", c.Size, at, c.Size)})
		}
		newest = newest.then(r, cs.jumps, signedHead{uint64(c.Size), c.Time})
	}
	for _, raw := range sigs.cosigned {
		v.checkCosigned(r, cs, raw, key, opts)
	}
	v.checkStoredTree(r, cs)
	v.verifyStamps(r, cs, sigs, key, opts.TSARoots)
	return newest
}

func (v *Vault) checkCosigned(r *Report, cs chainState, raw []byte, key ed25519.PublicKey, opts VerifyOptions) {
	r.Cosigned++
	c, cosigs, err := custodylog.Cosignatures(raw, key, opts.Witnesses...)
	if err != nil {
		r.add(Finding{What: "a co-signed checkpoint: " + err.Error()})
		return
	}
	by := "a witness whose key was not given (pass --witness to check its signature)"
	if len(cosigs) > 0 {
		by = fmt.Sprintf("%s at %s", cosigs[0].Witness, cosigs[0].Time.Format(time.RFC3339))
	}
	switch root, ok := cs.roots[c.Size]; {
	case !ok:
		r.add(Finding{Seq: cs.head, What: fmt.Sprintf("history cut: checkpoint %d cosigned by %s covers more events than the chain now has (%d)", c.Size, by, cs.head)})
	case root != c.Root:
		r.add(Finding{Seq: uint64(c.Size), What: fmt.Sprintf("history rewritten after checkpoint %d cosigned by %s: the events up to %d no longer hash to the tree the witness saw", c.Size, by, c.Size)})
	}
}

// checkStoredTree compares the stored tree's root at the head with the
// root rebuilt from the events.
func (v *Vault) checkStoredTree(r *Report, cs chainState) {
	if cs.head == 0 {
		return
	}
	var stored tlog.Hash
	err := v.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTree)
		if b == nil {
			return fmt.Errorf("the index has no tree")
		}
		var err error
		stored, err = tlog.TreeHash(int64(cs.head), treeReader{b})
		return err
	})
	switch {
	case err != nil:
		r.add(Finding{What: "the log's stored tree cannot be read: " + err.Error()})
	case stored != cs.root():
		r.add(Finding{What: fmt.Sprintf("the log's stored tree differs from the tree of the %d events: proofs served from it would not hold", cs.head)})
	}
}
