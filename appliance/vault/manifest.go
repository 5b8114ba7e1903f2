package vault

import (
	"context"
	"encoding/hex"
	"fmt"

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
