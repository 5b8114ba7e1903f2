package appliance

import (
	"encoding/json"
	"net/http"

	"github.com/edgetriage/edgetriage/appliance/handover"
)

func (d *Daemon) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", d.healthz)
	mux.HandleFunc("GET /readyz", d.readyz)
	(&centralAPI{vault: d.vault, desk: handover.New(d.vault, d.vault.State("handover"), nil), auth: centralAuth(d.auth), log: d.log}).register(mux)
	mux.HandleFunc("GET /api/v1/items/{digest}/redaction-edits", d.redactionEditsHandler)
	mux.HandleFunc("PUT /api/v1/items/{digest}/redaction-edits", d.redactionEditsHandler)
	// Everything else (dashboard, /api/v1 for people) is the web part's;
	// the patterns above are more specific, so they win.
	mux.Handle("/", d.web.Handler())
	if d.cfg.Metrics.Enabled {
		mux.Handle("GET /metrics", metricsHandler(newMetricsRegistry(d.vault, StatfsUsage, healthCollector{d.health}, partsCollector{d: d, stages: d.stages}), d.cfg.Metrics.BearerToken))
	}
	return mux
}

// healthz answers without authentication: it says only that the process is
// alive, so monitoring can reach it and it reveals nothing.
func (d *Daemon) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether the daemon is serving: the vault is open and intake
// running. It is 503 while starting and while shutting down.
func (d *Daemon) readyz(w http.ResponseWriter, _ *http.Request) {
	if !d.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
