package central

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgetriage/edgetriage/central/store"
)

//go:embed fleet.html
var fleetPage []byte

// FleetView is what GET /api/v1/fleet answers.
type FleetView struct {
	Worker      string              `json:"worker"`
	Time        time.Time           `json:"time"`
	SilentAfter string              `json:"silent_after"`
	Stations    []store.StationView `json:"stations"`
	Alarms      []store.Alarm       `json:"alarms"`
}

// Handler serves the fleet view: the page, its API, metrics and health.
// It listens on loopback by default; put it behind the force's usual
// authenticating proxy to show it elsewhere.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /api/v1/fleet", s.fleet)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'")
		w.Write(fleetPage)
	})
	return mux
}

func (s *Service) fleet(w http.ResponseWriter, r *http.Request) {
	stations, err := s.store.Fleet(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	alarms, err := s.store.Alarms(r.Context(), r.URL.Query().Get("station"), false)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(FleetView{Worker: s.cfg.WorkerID, Time: time.Now().UTC(), SilentAfter: s.cfg.SilentAfter.String(),
		Stations: stations, Alarms: alarms})
}
