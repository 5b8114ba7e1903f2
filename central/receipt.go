package central

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/sync/s3"
)

// WitnessRecord is kept beside each item in central storage
// (<station>/<digest>.witness.json): the checkpoint central had co-signed
// when it took the item, and the proof that the checkpoint the item's
// manifest carries belongs to that history (the same tree, one extending
// it, or one it extends). With it, `central verify` holds an item to what
// central witnessed from S3 alone.
type WitnessRecord struct {
	Type string `json:"type"`
	// ManifestSize is the size of the checkpoint in the item's manifest.
	ManifestSize int64 `json:"manifest_checkpoint_size"`
	// Cosigned is the station's checkpoint with central's cosignature line.
	Cosigned string `json:"cosigned_checkpoint"`
	// Consistency proves the smaller of the two trees is a prefix of the
	// larger (base64 hashes, RFC 6962 order; empty when they are one).
	Consistency []string `json:"consistency_proof"`
}

// WitnessRecordType tags the record's format.
const WitnessRecordType = "edgetriage-central-witness-v1"

// WitnessKey is where the witness record of d is kept.
func WitnessKey(t *s3.Target, d evidence.Digest) string { return t.Key(d) + ".witness.json" }

// Witnessed is what a witness record established.
type Witnessed struct {
	Size    int64 // the co-signed checkpoint's
	Witness string
	At      string
}

// checkWitnessRecord checks a stored witness record: the checkpoint in it
// is signed by the station's pinned key and co-signed by central's
// witness, and the proof in it holds the manifest's checkpoint mc to it.
func checkWitnessRecord(raw []byte, station ed25519.PublicKey, witness note.Verifier, mc custodylog.Checkpoint) (Witnessed, error) {
	var rec WitnessRecord
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil || rec.Type != WitnessRecordType {
		return Witnessed{}, fmt.Errorf("witness record: not a %s record (%v)", WitnessRecordType, err)
	}
	c, cosigs, err := custodylog.Cosignatures([]byte(rec.Cosigned), station, witness)
	if err != nil {
		return Witnessed{}, fmt.Errorf("witness record: %w", err)
	}
	if len(cosigs) == 0 {
		return Witnessed{}, fmt.Errorf("witness record: checkpoint %d carries no cosignature by %s", c.Size, witness.Name())
	}
	w := Witnessed{Size: c.Size, Witness: cosigs[0].Witness, At: cosigs[0].Time.Format("2006-01-02T15:04:05Z07:00")}
	if rec.ManifestSize != mc.Size {
		return w, fmt.Errorf("witness record is for a manifest checkpoint of %d events, the manifest's has %d", rec.ManifestSize, mc.Size)
	}
	proof, err := custodylog.DecodeHashes(rec.Consistency)
	if err != nil {
		return w, fmt.Errorf("witness record: %w", err)
	}
	switch {
	case mc.Size == c.Size && mc.Root != c.Root:
		err = errors.New("two different trees of the same size")
	case mc.Size > c.Size:
		err = tlog.CheckTree(proof, mc.Size, mc.Root, c.Size, c.Root)
	case mc.Size < c.Size:
		err = tlog.CheckTree(proof, c.Size, c.Root, mc.Size, mc.Root)
	}
	if err != nil {
		return w, fmt.Errorf("the manifest's checkpoint of %d events is not in the history %s co-signed at %d: %v", mc.Size, w.Witness, c.Size, err)
	}
	return w, nil
}
