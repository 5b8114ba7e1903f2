package appliance

import (
	"context"
	"io"
	"maps"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// originVault is the vault as a capture part sees it: every item it hands
// in is labelled with where it came from ("dock", "rtsp"), which sync and
// retention policies are written in terms of.
type originVault struct {
	*vault.Vault
	origin string
}

func (o originVault) label(in evidence.Intake) evidence.Intake {
	in.Labels = maps.Clone(in.Labels)
	if in.Labels == nil {
		in.Labels = map[string]string{}
	}
	in.Labels["origin"] = o.origin
	return in
}

func (o originVault) IngestReader(ctx context.Context, r io.Reader, in evidence.Intake) (evidence.Item, bool, error) {
	return o.Vault.IngestReader(ctx, r, o.label(in))
}

func (o originVault) IngestFile(ctx context.Context, path string, in evidence.Intake) (evidence.Item, bool, error) {
	return o.Vault.IngestFile(ctx, path, o.label(in))
}

// ackSource tells the dock which items central has acknowledged, for the
// release-after-ack policy.
type ackSource struct{ vault *vault.Vault }

func (a ackSource) Acknowledged(d evidence.Digest) bool {
	it, err := a.vault.Item(d)
	return err == nil && it.Labels[evidence.LabelCentralAck] != ""
}
