package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"golang.org/x/mod/sumdb/note"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/handover"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// centralAPI is the pull API central systems use: a changes feed with a
// cursor, records, manifests, content with Range, custody events, and ack.
// Only central clients' bearer tokens reach it; staff and investigator
// sessions, and their tokens, may not.
type centralAPI struct {
	vault *vault.Vault
	desk  *handover.Desk
	// witnesses are the keys of the witnesses whose cosignatures are kept.
	witnesses []note.Verifier
	log       *slog.Logger
}

const maxChangesPage = 1000

func (c *centralAPI) register(m *http.ServeMux, guard func(audience, http.HandlerFunc) http.HandlerFunc) {
	as := func(h centralHandler) http.HandlerFunc {
		return guard(centralClients, func(w http.ResponseWriter, r *http.Request) {
			p, _ := PrincipalFrom(r.Context())
			h(w, r, p.Name)
		})
	}
	m.HandleFunc("GET /api/v1/central/changes", as(c.changes))
	m.HandleFunc("GET /api/v1/central/items/{digest}", as(c.item))
	m.HandleFunc("GET /api/v1/central/items/{digest}/manifest", as(c.manifest))
	m.HandleFunc("GET /api/v1/central/items/{digest}/content", as(c.content))
	m.HandleFunc("GET /api/v1/central/items/{digest}/events", as(c.events))
	m.HandleFunc("POST /api/v1/central/items/{digest}/challenge", as(c.challenge))
	c.registerLog(m, as)
	m.HandleFunc("POST /api/v1/central/items/{digest}/ack", as(c.ack))
}

type centralHandler func(w http.ResponseWriter, r *http.Request, client string)

// Change is one entry of the changes feed: an item whose record changed at
// custody event Seq. Pass the feed's `next` as `after` to continue.
type Change struct {
	Seq    uint64          `json:"seq"`
	Action evidence.Action `json:"action"`
	Item   evidence.Item   `json:"item"`
}

func (c *centralAPI) changes(w http.ResponseWriter, r *http.Request, _ string) {
	after, err := queryUint(r, "after", 0)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit, err := queryUint(r, "limit", 100)
	if err != nil || limit == 0 || limit > maxChangesPage {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("'limit' must be 1 to %d", maxChangesPage))
		return
	}
	// What central pulls (flagged, origin, kind); the cursor still moves
	// over the changes the filter leaves out.
	filter, err := evidence.ParsePullFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The records are read after the walk, not inside it: a read
	// transaction opened within another deadlocks bbolt as soon as a
	// writer waits to grow the file (it froze the whole daemon).
	var picked []evidence.CustodyEvent
	next := after
	err = c.vault.Events(after+1, func(e evidence.CustodyEvent) bool {
		if uint64(len(picked)) >= limit {
			return false
		}
		next = e.Seq
		if !e.Item.IsZero() && e.Details["record"] != "" {
			picked = append(picked, e)
		}
		return true
	})
	out := make([]Change, 0, len(picked))
	for _, e := range picked {
		if err != nil {
			break
		}
		var it evidence.Item
		if it, err = c.vault.Item(e.Item); err == nil && filter.Match(it) {
			out = append(out, Change{Seq: e.Seq, Action: e.Action, Item: it})
		}
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": out, "next": next})
}

func queryUint(r *http.Request, name string, def uint64) (uint64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("'%s' must be a whole number, got %q", name, s)
	}
	return n, nil
}

func (c *centralAPI) itemFor(w http.ResponseWriter, r *http.Request) (evidence.Item, bool) {
	return LookupItem(w, r, c.vault)
}

func (c *centralAPI) item(w http.ResponseWriter, r *http.Request, _ string) {
	if it, ok := c.itemFor(w, r); ok {
		writeJSON(w, http.StatusOK, it)
	}
}

func (c *centralAPI) events(w http.ResponseWriter, r *http.Request, _ string) {
	it, ok := c.itemFor(w, r)
	if !ok {
		return
	}
	evs, err := c.vault.ItemEvents(it.Digest)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
}

func (c *centralAPI) manifest(w http.ResponseWriter, r *http.Request, client string) {
	it, ok := c.itemFor(w, r)
	if !ok {
		return
	}
	m, err := c.vault.Manifest(r.Context(), it.Digest)
	if err == nil {
		err = c.desk.ServedManifest(r.Context(), client, it.Digest, m)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(m)
}

// content serves the bytes with Range support, so an interrupted download
// resumes; every download is recorded as a custody event.
func (c *centralAPI) content(w http.ResponseWriter, r *http.Request, client string) {
	it, ok := c.itemFor(w, r)
	if !ok {
		return
	}
	if it.State != evidence.StateStored {
		writeError(w, http.StatusGone, "the local copy was removed ("+string(it.State)+")")
		return
	}
	f, err := c.vault.OpenObject(it.Digest)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer f.Close()
	details := map[string]string{"central": client}
	if rng := r.Header.Get("Range"); rng != "" {
		details["range"] = rng
	}
	if _, err := c.vault.Append(r.Context(), evidence.CustodyEvent{Actor: evidence.Actor("central:" + client),
		Action: evidence.ActionCentralPulled, Item: it.Digest, Details: details}); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Content-SHA256", it.Digest.String())
	w.Header().Set("ETag", `"`+it.Digest.String()+`"`)
	counted := &countingWriter{ResponseWriter: w}
	http.ServeContent(counted, r, "", it.IngestedAt, f)
	// Only a range that went out whole counts towards "downloaded in full",
	// which an acknowledgement needs.
	if start, end, ok := servedRange(r.Header.Get("Range"), counted, it.Size); ok && r.Method == http.MethodGet {
		if err := c.desk.Served(r.Context(), client, it.Digest, start, end); err != nil {
			c.log.Error("recording a download", "digest", it.Digest.String(), "central", client, "err", err)
		}
	}
}

// countingWriter counts the body bytes and keeps the status of a response.
type countingWriter struct {
	http.ResponseWriter
	status  int
	written int64
}

func (cw *countingWriter) WriteHeader(code int) {
	cw.status = code
	cw.ResponseWriter.WriteHeader(code)
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	n, err := cw.ResponseWriter.Write(p)
	cw.written += int64(n)
	return n, err
}

// servedRange is the byte range a finished response carried in full, for
// a whole-item answer or one single range; multi-range answers and cut
// transfers count for nothing.
func servedRange(rangeHeader string, cw *countingWriter, size int64) (start, end int64, ok bool) {
	switch cw.status {
	case http.StatusOK:
		return 0, size, cw.written == size
	case http.StatusPartialContent:
		var first, last int64
		cr := cw.Header().Get("Content-Range")
		if _, err := fmt.Sscanf(cr, "bytes %d-%d/", &first, &last); err != nil || last < first {
			return 0, 0, false
		}
		return first, last + 1, cw.written == last+1-first
	}
	return 0, 0, false
}

func (c *centralAPI) challenge(w http.ResponseWriter, r *http.Request, client string) {
	it, ok := c.itemFor(w, r)
	if !ok {
		return
	}
	ch, err := c.desk.Challenge(client, it.Digest)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ch)
}

// ack takes central's acknowledgement: an answer to a challenge proving it
// holds every byte, and the manifest it verified. It is refused (409) when
// the proof or the manifest is wrong, the challenge unknown or expired, or
// the client never received the whole item.
func (c *centralAPI) ack(w http.ResponseWriter, r *http.Request, client string) {
	it, ok := c.itemFor(w, r)
	if !ok {
		return
	}
	var req handover.Ack
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `body must be {"challenge": "<hex>", "proof": "<hex>", "manifest_sha256": "<hex>"} (ask POST .../challenge first): `+err.Error())
		return
	}
	receipt, err := c.desk.Acknowledge(r.Context(), client, it.Digest, req)
	if errors.Is(err, handover.ErrRefused) {
		c.log.Warn("central acknowledgement refused", "digest", it.Digest.String(), "central", client, "err", err)
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	c.log.Info("central acknowledged", "digest", it.Digest.String(), "central", client)
	writeJSON(w, http.StatusOK, receipt)
}
