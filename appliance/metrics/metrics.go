// Package metrics serves the daemon's Prometheus /metrics: the vault,
// the disk, the host's health and every part's own status, each read at
// scrape time from the part's status snapshot (no counters in globals).
package metrics

import (
	"crypto/subtle"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/hardware"
)

// Handler serves /metrics for v, the host's health and the daemon's parts,
// behind a bearer token when one is set. It has a registry of its own
// (never the global one, so two daemons in one test process do not share
// series).
func Handler(v *vault.Vault, health *hardware.Sampler, parts Parts, token string) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&vaultCollector{v: v}, healthCollector{s: health}, parts, buildInfo{version: parts.Version})
	return guarded(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), token)
}

// guarded answers only the bearer of token, or, without a token, only a
// scraper on the appliance itself: the series say what the station holds
// and does.
func guarded(h http.Handler, token string) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" && !fromLoopback(r) {
			http.Error(w, "metrics are served to this machine only unless metrics.bearer_token is set", http.StatusForbidden)
			return
		}
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edgetriage metrics"`)
			http.Error(w, "metrics need the configured bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

var (
	descItems  = prometheus.NewDesc("edgetriage_vault_items", "Items in the vault index by state.", []string{"state"}, nil)
	descBytes  = prometheus.NewDesc("edgetriage_vault_stored_bytes", "Bytes of evidence held locally.", nil, nil)
	descEvents = prometheus.NewDesc("edgetriage_custody_events_total", "Events appended to the custody chain (its length).", nil, nil)
	descIntake = prometheus.NewDesc("edgetriage_intake_stopped", "1 while new intake is refused (disk at its reserve).", nil, nil)
)

type vaultCollector struct {
	v *vault.Vault
}

func (c *vaultCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descItems, descBytes, descEvents, descIntake} {
		ch <- d
	}
}

func (c *vaultCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.v.Stats()
	ch <- prometheus.MustNewConstMetric(descItems, prometheus.GaugeValue, float64(st.Stored), string(evidence.StateStored))
	ch <- prometheus.MustNewConstMetric(descItems, prometheus.GaugeValue, float64(st.Removed), string(evidence.StateRemoved))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(st.StoredBytes))
	if head, err := c.v.Head(); err == nil {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(head.Seq))
	}
	stopped := 0.0
	if c.v.IntakeStopped() != "" {
		stopped = 1
	}
	ch <- prometheus.MustNewConstMetric(descIntake, prometheus.GaugeValue, stopped)
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
