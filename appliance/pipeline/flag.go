package pipeline

import (
	"context"
	"strings"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// ManualFlag is the flag name of an item flagged by a person rather than by
// a triage rule.
const ManualFlag = "manual"

// Flag marks an item for central storage and redaction, in one record
// change whose custody event is the flag decision. reason says why in full
// (label "flagged", which sync and retention read); names are the short
// names of the rules that matched (labels "flag.<name>", which the
// dashboard shows as flag chips and filters by), ManualFlag when none.
func Flag(ctx context.Context, v *vault.Vault, d evidence.Digest, actor evidence.Actor, reason string, names ...string) (evidence.Item, error) {
	if len(names) == 0 {
		names = []string{ManualFlag}
	}
	return v.UpdateItem(ctx, d, vault.Change{Actor: actor, Action: evidence.ActionFlagged,
		Details: map[string]string{"reason": reason, "flags": strings.Join(names, ", ")},
		Apply: func(it *evidence.Item) error {
			if it.Labels == nil {
				it.Labels = map[string]string{}
			}
			for _, name := range names {
				it.Labels[evidence.LabelFlagPrefix+name] = reason
			}
			if prev := it.Labels[evidence.LabelFlagged]; prev != "" && prev != reason {
				reason = prev + "; " + reason
			}
			it.Labels[evidence.LabelFlagged] = reason
			return nil
		}})
}
