package vault

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Manifest signs a checkpoint of the current head and returns the signed
// manifest of item d: its record, its custody events, and the chain links
// from its first event to that checkpoint. The same bytes go to central
// storage beside the item and into export bundles.
func (v *Vault) Manifest(ctx context.Context, d evidence.Digest) ([]byte, error) {
	it, err := v.Item(d)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	events, err := v.ItemEvents(d)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Short(), err)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("manifest %s: the item has no custody events", d.Short())
	}
	cp, err := v.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Short(), err)
	}
	if cp.Seq == 0 {
		if cp, err = v.LatestCheckpoint(); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", d.Short(), err)
		}
	}
	var links []evidence.ChainLink
	err = v.Events(events[0].Seq, func(e evidence.CustodyEvent) bool {
		if e.Seq > cp.Seq {
			return false
		}
		links = append(links, e.Link())
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Short(), err)
	}
	m := evidence.Manifest{
		Format: evidence.ManifestFormat, KeyID: evidence.KeyID(v.pub), PublicKey: hex.EncodeToString(v.pub),
		Item: it, Events: events, Links: links, Checkpoint: cp,
	}
	return evidence.SignManifest(v.key, m)
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
