package vault

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Manifest signs a checkpoint of the log and returns the signed manifest
// of item d (evidence.ManifestV2 in an envelope): its record as stored, its
// custody events, the checkpoint, and inclusion proofs. The same bytes go
// to central storage beside the item and into export bundles. It is made
// in one write transaction, so record, events and tree agree.
func (v *Vault) Manifest(ctx context.Context, d evidence.Digest) ([]byte, error) {
	var m evidence.ManifestV2
	err := v.update(ctx, func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketItems).Get(d[:])
		if raw == nil {
			return fmt.Errorf("item %s: %w", d, ErrNotFound)
		}
		cp, err := v.checkpointTx(tx)
		if err != nil {
			return err
		}
		events, err := itemEventsTx(tx, d)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			return fmt.Errorf("the item has no custody events")
		}
		proofs, err := itemProofsTx(tx, events, cp.Size)
		if err != nil {
			return err
		}
		stamp, err := newestStampTx(tx, cp.Size)
		if err != nil {
			return err
		}
		m = evidence.ManifestV2{PublicKey: hex.EncodeToString(v.pub), Record: bytes.Clone(raw), Events: events,
			Checkpoint: string(cp.Signed), Proofs: proofs, Timestamp: stamp}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Short(), err)
	}
	return evidence.Seal(v.key, evidence.TypeManifest, m)
}

// Acknowledgement is what a central client proved when it acknowledged an
// item: the manifest it verified and its answer to a challenge (checked by
// the caller, appliance/handover, before it gets here).
type Acknowledgement struct {
	Central  string
	Manifest evidence.Digest
	Proof    evidence.Digest
}

// Acknowledge records that a central client holds item d, and returns the
// appliance's signed receipt naming the custody event that records it.
func (v *Vault) Acknowledge(ctx context.Context, d evidence.Digest, ack Acknowledgement) (evidence.SignedReceipt, error) {
	at := v.now().UTC()
	var seq uint64
	_, err := v.UpdateItem(ctx, d, Change{Actor: evidence.Actor("central:" + ack.Central), Action: evidence.ActionCentralAcknowledged,
		Details: map[string]string{"central": ack.Central, "manifest_sha256": ack.Manifest.String(), "proof": ack.Proof.String()},
		Apply: func(it *evidence.Item) error {
			if it.Labels == nil {
				it.Labels = map[string]string{}
			}
			it.Labels[evidence.LabelCentralAck] = ack.Central + " " + at.Format(time.RFC3339)
			return nil
		}})
	if err != nil {
		return evidence.SignedReceipt{}, fmt.Errorf("acknowledge: %w", err)
	}
	evs, err := v.ItemEvents(d)
	if err != nil || len(evs) == 0 {
		return evidence.SignedReceipt{}, fmt.Errorf("acknowledge %s: reading back the event: %w", d.Short(), err)
	}
	seq = evs[len(evs)-1].Seq
	return evidence.SignReceipt(v.key, evidence.Receipt{Digest: d, Time: at, Appliance: evidence.KeyID(v.pub),
		Central: ack.Central, Seq: seq, Manifest: ack.Manifest, Proof: ack.Proof})
}
