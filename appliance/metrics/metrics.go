// Package metrics serves the daemon's Prometheus /metrics: the vault,
// the disk, the host's health and every part's own status, each read at
// scrape time from the part's status snapshot (no counters in globals).
package metrics

import (
	"crypto/subtle"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/hardware"
)

// DiskUsage reports the used and total bytes of the volume holding path.
type DiskUsage func(path string) (used, total uint64, err error)

// Handler serves /metrics for v, the host's health and the daemon's parts,
// behind a bearer token when one is set. It has a registry of its own
// (never the global one, so two daemons in one test process do not share
// series).
func Handler(v *vault.Vault, usage DiskUsage, health *hardware.Sampler, parts Parts, token string) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&vaultCollector{v: v, usage: usage}, healthCollector{s: health}, parts)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
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
	descEvents = prometheus.NewDesc("edgetriage_custody_events", "Length of the custody chain.", nil, nil)
	descIntake = prometheus.NewDesc("edgetriage_intake_stopped", "1 while new intake is refused (disk at its reserve).", nil, nil)
	descUsed   = prometheus.NewDesc("edgetriage_disk_used_bytes", "Used bytes of the vault volume.", nil, nil)
	descTotal  = prometheus.NewDesc("edgetriage_disk_total_bytes", "Size of the vault volume.", nil, nil)
)

type vaultCollector struct {
	v     *vault.Vault
	usage DiskUsage
}

func (c *vaultCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descItems, descBytes, descEvents, descIntake, descUsed, descTotal} {
		ch <- d
	}
}

func (c *vaultCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[evidence.State]float64{evidence.StateStored: 0, evidence.StateRemoved: 0}
	var stored float64
	c.v.Items(func(it evidence.Item) bool {
		counts[it.State]++
		if it.State == evidence.StateStored {
			stored += float64(it.Size)
		}
		return true
	})
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(descItems, prometheus.GaugeValue, n, string(state))
	}
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, stored)
	if head, err := c.v.Head(); err == nil {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.GaugeValue, float64(head.Seq))
	}
	stopped := 0.0
	if c.v.IntakeStopped() != "" {
		stopped = 1
	}
	ch <- prometheus.MustNewConstMetric(descIntake, prometheus.GaugeValue, stopped)
	if used, total, err := c.usage(c.v.Dir()); err == nil {
		ch <- prometheus.MustNewConstMetric(descUsed, prometheus.GaugeValue, float64(used))
		ch <- prometheus.MustNewConstMetric(descTotal, prometheus.GaugeValue, float64(total))
	}
}
