package pipeline

import (
	"context"
	"io"
	"maps"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// OriginVault is the vault as a capture part sees it: every item it hands
// in is labelled with where it came from ("dock", "rtsp"), which sync and
// retention policies are written in terms of.
type OriginVault struct {
	*vault.Vault
	origin string
}

// NewOriginVault labels every item handed in through it with origin.
func NewOriginVault(v *vault.Vault, origin string) OriginVault {
	return OriginVault{Vault: v, origin: origin}
}

func (o OriginVault) label(in evidence.Intake) evidence.Intake {
	in.Labels = maps.Clone(in.Labels)
	if in.Labels == nil {
		in.Labels = map[string]string{}
	}
	in.Labels["origin"] = o.origin
	return in
}

func (o OriginVault) IngestReader(ctx context.Context, r io.Reader, in evidence.Intake) (evidence.Item, bool, error) {
	return o.Vault.IngestReader(ctx, r, o.label(in))
}

func (o OriginVault) IngestFile(ctx context.Context, path string, in evidence.Intake) (evidence.Item, bool, error) {
	return o.Vault.IngestFile(ctx, path, o.label(in))
}
