package web

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/triage/redact"
)

// RedactionEdits keeps investigators' manual redaction edits per master.
// Put refuses edits it cannot accept with an error that says why and has a
// method BadRequest() bool answering true; it records every accepted change
// in the custody chain.
type RedactionEdits interface {
	Get(d evidence.Digest) ([]redact.ManualEdit, error)
	Put(ctx context.Context, master evidence.Item, actor evidence.Actor, author string, raw []byte) ([]redact.ManualEdit, error)
}

func (s *Server) redactionEdits(w http.ResponseWriter, r *http.Request) {
	if s.deps.Edits == nil {
		writeError(w, http.StatusNotImplemented, "manual redaction edits are not available on this appliance")
		return
	}
	it, ok := s.lookup(w, r)
	if !ok {
		return
	}
	edits, err := s.deps.Edits.Get(it.Digest)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"edits": edits})
}

func (s *Server) putRedactionEdits(w http.ResponseWriter, r *http.Request) {
	if s.deps.Edits == nil {
		writeError(w, http.StatusNotImplemented, "manual redaction edits are not available on this appliance")
		return
	}
	p, _ := PrincipalFrom(r.Context())
	it, ok := s.lookup(w, r)
	if !ok {
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	edits, err := s.deps.Edits.Put(r.Context(), it, p.Actor(), p.Name, raw)
	var refused interface{ BadRequest() bool }
	switch {
	case errors.As(err, &refused) && refused.BadRequest():
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"edits": edits, "status": "a new redacted copy is being rendered"})
}
