package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/triage/redact"
)

// ErrNotStored means the item's bytes are no longer held locally.
var ErrNotStored = errors.New("not stored locally")

// Redact renders a redacted working copy of master d and stores it, with
// its redaction log, as new items linked to the master by digest. The
// master is only read. A "redacted" custody event on the master records the
// render's summary, including its QA map.
func Redact(ctx context.Context, v *vault.Vault, r *redact.Redactor, d evidence.Digest, edits []redact.ManualEdit, actor evidence.Actor) (redact.Output, error) {
	master, err := v.Item(d)
	if err != nil {
		return redact.Output{}, fmt.Errorf("redact: %w", err)
	}
	if master.State != evidence.StateStored {
		return redact.Output{}, fmt.Errorf("redact %s: the local copy was %s: %w", d.Short(), master.State, ErrNotStored)
	}
	if master.Kind != evidence.KindVideo {
		return redact.Output{}, fmt.Errorf("redact %s: a %s item has no frames to redact", d.Short(), master.Kind)
	}
	work, err := os.MkdirTemp(filepath.Join(v.Dir(), "tmp"), "redact-")
	if err != nil {
		return redact.Output{}, fmt.Errorf("redact %s: %w", d.Short(), err)
	}
	defer os.RemoveAll(work)
	out, err := r.Render(ctx, v.ObjectPath(d), work, edits)
	if err != nil {
		return out, fmt.Errorf("redact %s: %w", d.Short(), err)
	}
	videoIn, logIn := out.Intakes()
	videoIn.Actor, logIn.Actor = actor, actor
	videoIn.Source, logIn.Source = master.Source, master.Source
	copyItem, _, err := v.IngestFile(ctx, out.Path, videoIn)
	if err != nil {
		return out, fmt.Errorf("redact %s: store the redacted copy: %w", d.Short(), err)
	}
	logIn.Parent = copyItem.Digest
	if _, _, err := v.IngestReader(ctx, bytes.NewReader(out.Log), logIn); err != nil {
		return out, fmt.Errorf("redact %s: store the redaction log: %w", d.Short(), err)
	}
	details := out.Summary.CustodyDetails()
	details["redacted_copy"] = copyItem.Digest.String()
	if _, err := v.Append(ctx, evidence.CustodyEvent{Actor: actor, Action: evidence.ActionRedacted, Item: d, Details: details}); err != nil {
		return out, fmt.Errorf("redact %s: %w", d.Short(), err)
	}
	return out, nil
}
