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
// change (checked once a second), and "custody" for the last few and then
// every new custody event. The chain is read when the vault says it grew,
// never on the timer.
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
	ended := endedWith(r.Context())
	grew, unsubscribe := s.deps.Vault.Subscribe()
	defer unsubscribe()
	readChain := true
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
		if readChain {
			next, readChain = s.sendCustody(w, next)
		}
		flusher.Flush()
		if readChain && r.Context().Err() == nil {
			continue // a long backlog goes out page after page
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		case <-ended:
			// Logged out, disabled or expired: the feed shows custody
			// events, so it must not outlive the login.
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case <-tick.C:
		case <-grew:
			readChain = true
		}
	}
}

// sendCustody writes up to 200 events from seq next on, and says where to
// go on from and whether more are waiting.
func (s *Server) sendCustody(w http.ResponseWriter, next uint64) (uint64, bool) {
	const page = 200
	var evs []evidence.CustodyEvent
	s.deps.Vault.Events(next, func(e evidence.CustodyEvent) bool {
		evs = append(evs, e)
		return len(evs) < page
	})
	for _, e := range evs {
		raw, _ := json.Marshal(e)
		fmt.Fprintf(w, "id: %d\nevent: custody\ndata: %s\n\n", e.Seq, raw)
		next = e.Seq + 1
	}
	return next, len(evs) == page
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
