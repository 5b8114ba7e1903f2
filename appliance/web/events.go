package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"embed"
	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// events streams server-sent events: "status" whenever the status panels
// change, and "custody" for the last few and then every new custody event. It polls the chain
// head once a second, which costs one read transaction per viewer.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming not supported by this connection")
		return
	}
	head, err := s.deps.Vault.Head()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The last few events go first so the feed is not empty on arrival.
	const backlog = 30
	next := max(head.Seq+1, backlog+1) - backlog
	var last []byte
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		snap, _ := json.Marshal(s.snapshot())
		// The time field changes every tick; compare without it.
		body := snap[bytes.IndexByte(snap, ','):]
		if !bytes.Equal(body, last) {
			last = body
			fmt.Fprintf(w, "event: status\ndata: %s\n\n", snap)
		}
		var evs []evidence.CustodyEvent
		s.deps.Vault.Events(next, func(e evidence.CustodyEvent) bool {
			evs = append(evs, e)
			return len(evs) < 200
		})
		for _, e := range evs {
			raw, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %d\nevent: custody\ndata: %s\n\n", e.Seq, raw)
			next = e.Seq + 1
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case <-tick.C:
		}
	}
}

//go:embed ui
var uiFiles embed.FS

// staticHandler serves the dashboard. The page itself holds no data; the
// script asks the API, which enforces the login.
func staticHandler() http.Handler {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic("web: embedded ui missing: " + err.Error())
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
