package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/triage/redact"
)

// Manual redaction edits are data: an investigator's regions to add or
// remove, or full-frame blur, over time ranges. They are kept per master in
// the vault's state, every change is a custody event, and the redaction
// stage renders a new copy from the master with them.
const redactionEditsState = "redaction-edits"

// RedactionEdits keeps the manual redaction edits of every master.
type RedactionEdits struct{ vault *vault.Vault }

// NewRedactionEdits keeps edits in v's state.
func NewRedactionEdits(v *vault.Vault) RedactionEdits { return RedactionEdits{vault: v} }

// Get returns the edits of master d (none when it has none).
func (e RedactionEdits) Get(d evidence.Digest) ([]redact.ManualEdit, error) {
	raw, err := e.vault.State(redactionEditsState).Get(d.String())
	if err != nil || raw == nil {
		return nil, err
	}
	return redact.ParseEdits(raw)
}

// BadEditsError is edits refused for what they say, not for a failure to
// store them.
type BadEditsError struct{ Reason string }

func (e *BadEditsError) Error() string { return e.Reason }

// BadRequest tells the API the caller is at fault.
func (e *BadEditsError) BadRequest() bool { return true }

// Put replaces the edits of master it with raw (a JSON array, parsed
// strictly), each credited to author, and records the change; the
// redaction stage follows that event and renders a new copy.
func (e RedactionEdits) Put(ctx context.Context, it evidence.Item, actor evidence.Actor, author string, raw []byte) ([]redact.ManualEdit, error) {
	if it.Kind != evidence.KindVideo || !it.Parent.IsZero() {
		return nil, &BadEditsError{"edits apply to a video master, not to a " + string(it.Kind) + " or a derived copy"}
	}
	edits, err := redact.ParseEdits(raw)
	if err != nil {
		return nil, &BadEditsError{"edits: " + err.Error()}
	}
	for i := range edits {
		edits[i].Author = author
	}
	canonical, _ := json.Marshal(edits)
	if err := e.vault.State(redactionEditsState).Put(ctx, it.Digest.String(), canonical); err != nil {
		return nil, fmt.Errorf("store redaction edits of %s: %w", it.Digest.Short(), err)
	}
	if _, err := e.vault.Append(ctx, evidence.CustodyEvent{Actor: actor, Action: evidence.ActionRedactionEdited,
		Item: it.Digest, Details: map[string]string{"edits": strconv.Itoa(len(edits)),
			"edits_sha256": evidence.DigestBytes(canonical).String()}}); err != nil {
		return nil, fmt.Errorf("record redaction edits of %s: %w", it.Digest.Short(), err)
	}
	return edits, nil
}
