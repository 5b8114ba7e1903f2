package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"golang.org/x/mod/sumdb/note"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// The custody log as central holds the appliance to it: signed checkpoints,
// proofs that a later checkpoint extends an earlier one and that an item's
// events are in one, and witnesses' cosignatures posted back.

func (c *centralAPI) registerLog(m *http.ServeMux, as func(centralHandler) http.HandlerFunc) {
	m.HandleFunc("GET /api/v1/central/log/checkpoint", as(c.checkpoint))
	m.HandleFunc("GET /api/v1/central/log/consistency", as(c.consistency))
	m.HandleFunc("GET /api/v1/central/items/{digest}/proof", as(c.itemProof))
	m.HandleFunc("POST /api/v1/central/log/cosignature", as(c.cosignature))
}

// checkpoint answers the newest signed checkpoint (text/plain, a C2SP
// signed note), or the one of ?size=N.
func (c *centralAPI) checkpoint(w http.ResponseWriter, r *http.Request, _ string) {
	size, err := queryInt(r, "size", 0)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	cp, err := c.vault.LogCheckpoint(size)
	if !c.answered(w, err) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(cp.Signed)
}

// ConsistencyProof is the answer of /log/consistency.
type ConsistencyProof struct {
	Old   int64    `json:"old"`
	New   int64    `json:"new"`
	Proof []string `json:"proof"` // base64 hashes, RFC 6962 order
}

func (c *centralAPI) consistency(w http.ResponseWriter, r *http.Request, _ string) {
	older, err1 := queryInt(r, "old", 0)
	newer, err2 := queryInt(r, "new", 0)
	if err := errors.Join(err1, err2); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	proof, err := c.vault.ConsistencyProof(older, newer)
	if !c.answered(w, err) {
		return
	}
	writeJSON(w, http.StatusOK, ConsistencyProof{Old: older, New: newer, Proof: custodylog.EncodeHashes(proof)})
}

// ItemProof is the answer of /items/{digest}/proof: the item's events in
// the checkpoint of Size events, and their inclusion proofs.
type ItemProof struct {
	Size       int64                   `json:"size"`
	Checkpoint string                  `json:"checkpoint"`
	Events     []evidence.CustodyEvent `json:"events"`
	Proofs     []evidence.EventProof   `json:"proofs"`
}

func (c *centralAPI) itemProof(w http.ResponseWriter, r *http.Request, _ string) {
	it, ok := c.itemFor(w, r)
	if !ok {
		return
	}
	size, err := queryInt(r, "size", 0)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	cp, events, proofs, err := c.vault.ItemProofs(it.Digest, size)
	if !c.answered(w, err) {
		return
	}
	writeJSON(w, http.StatusOK, ItemProof{Size: cp.Size, Checkpoint: string(cp.Signed), Events: events, Proofs: proofs})
}

// cosignature takes a checkpoint a witness co-signed (the signed note
// with its cosignature line). It is kept when the appliance signed it, a
// witness this appliance pins co-signed it, and it matches the appliance's
// own tree at that size; a checkpoint that does not match is a fork (409),
// logged as an error.
func (c *centralAPI) cosignature(w http.ResponseWriter, r *http.Request, client string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusBadRequest, "cosignature: "+err.Error())
		return
	}
	sigs, err := c.vault.StoreCosignature(r.Context(), body, c.witnesses...)
	switch {
	case errors.Is(err, vault.ErrFork):
		c.log.Error("a witness co-signed another history than this appliance holds", "central", client, "err", err)
		c.recordFork(r.Context(), client, err)
		writeError(w, http.StatusConflict, err.Error())
		return
	case errors.Is(err, custodylog.ErrCheckpoint):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	c.log.Info("checkpoint co-signed", "central", client, "witness", sigs[0].Witness)
	writeJSON(w, http.StatusOK, map[string]any{"witnesses": sigs})
}

// recordFork puts a fork on the record as an alarm (and so out to the
// alert webhooks): someone holds a history of this appliance's custody log
// that is not the one it keeps. Only a pinned witness's valid cosignature
// gets this far, so nobody can flood the chain with it.
func (c *centralAPI) recordFork(ctx context.Context, client string, fork error) {
	ev := evidence.CustodyEvent{Actor: "appliance:custody-log", Action: evidence.ActionAlarm, Details: map[string]string{
		"alarm": "fork", "state": "raised", "central": client, "message": evidence.TruncateText(fork.Error(), 1000)}}
	if _, err := c.vault.Append(context.WithoutCancel(ctx), ev); err != nil {
		c.log.Error("record fork alarm", "err", err)
	}
}

// answered writes the error answer for err, if any, and says whether the
// caller may go on.
func (c *centralAPI) answered(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, vault.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, vault.ErrBadProofRequest):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
	return false
}

func queryInt(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("'%s' must be a whole number, got %q", name, s)
	}
	return n, nil
}

// witnessList reads the pinned witnesses' keys.
func witnessList(keys []string) ([]note.Verifier, error) {
	var out []note.Verifier
	for _, k := range keys {
		v, err := custodylog.WitnessVerifier(k)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
