package appliance

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/triage/redact"
)

// Manual redaction edits are data: an investigator's regions to add or
// remove, or full-frame blur, over time ranges. They are kept per master in
// the vault's state, every change is a custody event, and the redaction
// stage renders a new copy from the master with them.
const redactionEditsState = "redaction-edits"

func (d *Daemon) redactionEdits(dg evidence.Digest) ([]redact.ManualEdit, error) {
	raw, err := d.vault.State(redactionEditsState).Get(dg.String())
	if err != nil || raw == nil {
		return nil, err
	}
	return redact.ParseEdits(raw)
}

// redactionEditsHandler serves GET and PUT /api/v1/items/{digest}/redaction-edits.
func (d *Daemon) redactionEditsHandler(w http.ResponseWriter, r *http.Request) {
	p, session, ok := d.auth.Authenticate(r)
	if !ok || p.Role == auth.RoleCentral {
		writeError(w, http.StatusUnauthorized, "log in as an investigator")
		return
	}
	dg, err := evidence.ParseDigest(r.PathValue("digest"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	it, err := d.vault.Item(dg)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if r.Method == http.MethodGet {
		edits, err := d.redactionEdits(dg)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"edits": edits})
		return
	}
	if session != nil {
		if err := auth.CheckCSRF(r, session); err != nil {
			writeError(w, http.StatusForbidden, err.Error())
			return
		}
	}
	if p.Role != auth.RoleInvestigator && p.Role != auth.RoleAdmin {
		writeError(w, http.StatusForbidden, "only investigators change what is redacted")
		return
	}
	d.putRedactionEdits(w, r, p, it)
}

func (d *Daemon) putRedactionEdits(w http.ResponseWriter, r *http.Request, p auth.Principal, it evidence.Item) {
	if it.Kind != evidence.KindVideo || !it.Parent.IsZero() {
		writeError(w, http.StatusBadRequest, "edits apply to a video master, not to a "+string(it.Kind)+" or a derived copy")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	edits, err := redact.ParseEdits(raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, "edits: "+err.Error())
		return
	}
	for i := range edits {
		edits[i].Author = p.Name
	}
	canonical, _ := json.Marshal(edits)
	if err := d.vault.State(redactionEditsState).Put(r.Context(), it.Digest.String(), canonical); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if _, err := d.vault.Append(r.Context(), evidence.CustodyEvent{Actor: p.Actor(), Action: evidence.ActionRedactionEdited,
		Item: it.Digest, Details: map[string]string{"edits": strconv.Itoa(len(edits)),
			"edits_sha256": evidence.DigestBytes(canonical).String()}}); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"edits": edits, "status": "a new redacted copy is being rendered"})
}
