package bundle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// A redacted copy's bundle also carries what made it: its redaction log
// (the master's digest, the reviewers' edits, the models with their SHA-256,
// the settings, every box) and the log's own signed manifest, so a
// recipient checks the log as evidence of the same station, bound to the
// copy by digest.
const (
	provenanceLog      = "provenance/redaction-log.json"
	provenanceManifest = "provenance/manifest.json"
)

// Provenance is what a redacted copy's bundle says made it, read from its
// verified redaction log.
type Provenance struct {
	Log    evidence.Digest
	Master evidence.Digest
	Edits  []ProvenanceEdit
	Models []ProvenanceModel
	// Settings are the log's other settings, as the redactor wrote them.
	Settings map[string]any
}

// ProvenanceEdit is one manual edit the copy was rendered with.
type ProvenanceEdit struct {
	Op     string          `json:"op"`
	Start  float64         `json:"start_s"`
	End    float64         `json:"end_s"`
	Box    json.RawMessage `json:"box,omitempty"`
	Entry  string          `json:"entry,omitempty"`
	Author string          `json:"author,omitempty"`
}

// ProvenanceModel is one detector model the copy was made with.
type ProvenanceModel struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// redactionLogOf finds the newest redaction log of item d, if d is a
// redacted copy.
func redactionLogOf(v *vault.Vault, d evidence.Digest) (evidence.Item, bool, error) {
	var logs []evidence.Item
	err := v.Items(func(it evidence.Item) bool {
		if it.Parent == d && it.Kind == evidence.KindRedactionLog {
			logs = append(logs, it)
		}
		return true
	})
	if err != nil || len(logs) == 0 {
		return evidence.Item{}, false, err
	}
	return slices.MaxFunc(logs, func(a, b evidence.Item) int { return a.IngestedAt.Compare(b.IngestedAt) }), true, nil
}

// provenanceEntries are the bundle entries for redacted copy d: none when d
// has no redaction log.
func provenanceEntries(ctx context.Context, v *vault.Vault, d evidence.Digest) ([]entry, error) {
	lg, ok, err := redactionLogOf(v, d)
	if err != nil || !ok {
		return nil, err
	}
	manifest, err := v.Manifest(ctx, lg.Digest)
	if err != nil {
		return nil, fmt.Errorf("redaction log %s: %w", lg.Digest.Short(), err)
	}
	f, err := v.OpenObject(lg.Digest)
	if err != nil {
		return nil, fmt.Errorf("redaction log %s: %w", lg.Digest.Short(), err)
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("redaction log %s: %w", lg.Digest.Short(), err)
	}
	if len(body) > maxManifest {
		return nil, fmt.Errorf("redaction log %s is larger than %d MiB", lg.Digest.Short(), maxManifest>>20)
	}
	return []entry{{provenanceManifest, manifest}, {provenanceLog, body}}, nil
}

// entry is one small file of a bundle besides the item.
type entry struct {
	name string
	body []byte
}

// checkProvenance verifies a bundle's provenance entries against the
// verified item: the log's manifest signed by the same key, the log's bytes
// as that manifest records, the log a child of the item, and the log naming
// the item as its output and the item's parent as its master.
func checkProvenance(manifest, body []byte, item custodylog.ManifestReport, pinned ed25519.PublicKey) (*Provenance, error) {
	if manifest == nil && body == nil {
		return nil, nil
	}
	if manifest == nil || body == nil {
		return nil, fmt.Errorf("provenance: want both %s and %s: %w", provenanceManifest, provenanceLog, evidence.ErrManifest)
	}
	m, err := custodylog.VerifyManifest(manifest, pinned)
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	digest, size, err := evidence.DigestOf(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	switch {
	case !bytes.Equal(m.Key, item.Key):
		return nil, fmt.Errorf("provenance: the redaction log is signed by key %s, the item by %s: %w", evidence.Fingerprint(m.Key), evidence.Fingerprint(item.Key), evidence.ErrManifest)
	case digest != m.Item.Digest || size != m.Item.Size:
		return nil, fmt.Errorf("provenance: the redaction log hashes to %s (%d bytes), its manifest says %s (%d bytes): %w", digest.Short(), size, m.Item.Digest.Short(), m.Item.Size, evidence.ErrManifest)
	case m.Item.Kind != evidence.KindRedactionLog || m.Item.Parent != item.Item.Digest:
		return nil, fmt.Errorf("provenance: %s is a %s of %s, not the redaction log of %s: %w", m.Item.Digest.Short(), m.Item.Kind, m.Item.Parent.Short(), item.Item.Digest.Short(), evidence.ErrManifest)
	}
	p, output, err := readProvenance(body)
	if err != nil {
		return nil, fmt.Errorf("provenance: redaction log %s: %w", digest.Short(), err)
	}
	if output != item.Item.Digest || p.Master != item.Item.Parent {
		return nil, fmt.Errorf("provenance: redaction log %s is of %s made from %s, the item is %s made from %s: %w",
			digest.Short(), output.Short(), p.Master.Short(), item.Item.Digest.Short(), item.Item.Parent.Short(), evidence.ErrManifest)
	}
	p.Log = digest
	return p, nil
}

func readProvenance(body []byte) (*Provenance, evidence.Digest, error) {
	var lg struct {
		Master   evidence.Digest  `json:"master"`
		Output   evidence.Digest  `json:"output"`
		Edits    []ProvenanceEdit `json:"manual_edits"`
		Settings map[string]any   `json:"settings"`
	}
	if err := json.Unmarshal(body, &lg); err != nil {
		return nil, evidence.Digest{}, err
	}
	p := &Provenance{Master: lg.Master, Edits: lg.Edits, Settings: lg.Settings}
	if raw, ok := lg.Settings["models"]; ok {
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, evidence.Digest{}, err
		}
		if err := json.Unmarshal(b, &p.Models); err != nil {
			return nil, evidence.Digest{}, fmt.Errorf("settings.models: %w", err)
		}
		delete(p.Settings, "models")
	}
	return p, lg.Output, nil
}

// Lines describe the provenance for a person reading verify's output.
func (p *Provenance) Lines() []string {
	out := []string{fmt.Sprintf("redacted copy of master %s, per redaction log %s (verified, same signer)", p.Master, p.Log)}
	for _, m := range p.Models {
		out = append(out, fmt.Sprintf("model: %s sha256:%s", m.Name, strings.TrimPrefix(m.SHA256, "sha256:")))
	}
	if len(p.Edits) == 0 {
		out = append(out, "edits: none")
	}
	for i, e := range p.Edits {
		line := fmt.Sprintf("edit %d: %s %.2f-%.2f s", i+1, e.Op, e.Start, e.End)
		if len(e.Box) > 0 {
			line += " box " + string(e.Box)
		}
		if e.Entry != "" {
			line += " resolves " + e.Entry
		}
		if e.Author != "" {
			line += " by " + e.Author
		}
		out = append(out, line)
	}
	settings, err := json.Marshal(p.Settings)
	if err != nil {
		panic("bundle: settings read from JSON do not encode: " + err.Error())
	}
	return append(out, "settings: "+string(settings))
}
