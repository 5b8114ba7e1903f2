package pipeline

import (
	"context"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// Flag marks an item for central storage and redaction, with the reason,
// in one record change whose custody event is the flag decision.
func Flag(ctx context.Context, v *vault.Vault, d evidence.Digest, actor evidence.Actor, reason string) (evidence.Item, error) {
	return v.UpdateItem(ctx, d, vault.Change{Actor: actor, Action: evidence.ActionFlagged,
		Details: map[string]string{"reason": reason},
		Apply: func(it *evidence.Item) error {
			if it.Labels == nil {
				it.Labels = map[string]string{}
			}
			if prev := it.Labels[evidence.LabelFlagged]; prev != "" && prev != reason {
				reason = prev + "; " + reason
			}
			it.Labels[evidence.LabelFlagged] = reason
			return nil
		}})
}
