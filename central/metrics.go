package central

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgetriage/edgetriage/central/store"
)

// metrics are the worker's Prometheus metrics (edgetriage_central_*), in a
// registry of its own. The fleet's state (backlog, contact, alarms) is read
// from the database at each scrape, so every worker reports the same fleet.
type metrics struct {
	reg      *prometheus.Registry
	pulled   *prometheus.CounterVec
	stored   *prometheus.CounterVec
	acked    *prometheus.CounterVec
	failures *prometheus.CounterVec
	leases   prometheus.Gauge
	// steps times an item's steps: what each costs is what an operator
	// (and the bench) needs to tell central's overhead from the station's.
	steps *prometheus.HistogramVec
}

// The steps of an item that the steps histogram times.
const (
	stepWitness  = "witness"     // a round's witnessing of the station's log: checkpoint, consistency proof, cosignature posted
	stepManifest = "manifest"    // fetch and verify the manifest, hold its checkpoint to the witnessed one, get a challenge
	stepTransfer = "transfer"    // station to central storage, through the digest and the proof
	stepAck      = "ack"         // the whole acknowledgement: proof, station's receipt, checks, receipt stored
	stepStation  = "station-ack" // the station's answer to the ack alone (its custody write included)
)

func newMetrics(st *store.Store) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		pulled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgetriage_central_pulled_bytes_total",
			Help: "Bytes this worker read from each station."}, []string{"station"}),
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgetriage_central_stored_items_total",
			Help: "Items this worker stored in central storage."}, []string{"station"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgetriage_central_acked_items_total",
			Help: "Items this worker acknowledged with a verified receipt."}, []string{"station"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgetriage_central_refused_items_total",
			Help: "Items refused, by alarm kind."}, []string{"station", "kind"}),
		leases: prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgetriage_central_leased_stations",
			Help: "Stations this worker follows now."}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "edgetriage_central_step_seconds",
			Help:    "Time each step took: witness (once a round), then per item manifest, transfer, ack, and station-ack (the station's answer to the ack alone).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"step"}),
	}
	m.reg.MustRegister(m.pulled, m.stored, m.acked, m.failures, m.leases, m.steps, fleetCollector{st: st})
	return m
}

var (
	descBacklogItems = prometheus.NewDesc("edgetriage_central_backlog_items", "Items wanted from the station and not yet acknowledged.", []string{"station"}, nil)
	descBacklogBytes = prometheus.NewDesc("edgetriage_central_backlog_bytes", "Bytes of those items.", []string{"station"}, nil)
	descContact      = prometheus.NewDesc("edgetriage_central_last_contact_timestamp_seconds", "When the station last answered.", []string{"station"}, nil)
	descCheckpoint   = prometheus.NewDesc("edgetriage_central_checkpoint_size", "Size of the station's last witnessed checkpoint.", []string{"station"}, nil)
	descAlarms       = prometheus.NewDesc("edgetriage_central_alarms_open", "Open alarms, by kind.", []string{"station", "kind"}, nil)
	descAcked        = prometheus.NewDesc("edgetriage_central_acked_items", "Items of the station held with a verified receipt.", []string{"station"}, nil)
)

type fleetCollector struct{ st *store.Store }

func (fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBacklogItems, descBacklogBytes, descContact, descCheckpoint, descAlarms, descAcked} {
		ch <- d
	}
}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fleet, err := c.st.Fleet(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descBacklogItems, err)
		return
	}
	for _, v := range fleet {
		ch <- prometheus.MustNewConstMetric(descBacklogItems, prometheus.GaugeValue, float64(v.BacklogItems), v.ID)
		ch <- prometheus.MustNewConstMetric(descBacklogBytes, prometheus.GaugeValue, float64(v.BacklogBytes), v.ID)
		ch <- prometheus.MustNewConstMetric(descAcked, prometheus.GaugeValue, float64(v.Acked), v.ID)
		ch <- prometheus.MustNewConstMetric(descCheckpoint, prometheus.GaugeValue, float64(v.Checkpoint), v.ID)
		if !v.LastContact.IsZero() {
			ch <- prometheus.MustNewConstMetric(descContact, prometheus.GaugeValue, float64(v.LastContact.Unix()), v.ID)
		}
		for _, kind := range v.OpenAlarms {
			ch <- prometheus.MustNewConstMetric(descAlarms, prometheus.GaugeValue, 1, v.ID, kind)
		}
	}
}

// time observes how long a step took since start.
func (m *metrics) time(step string, start time.Time) {
	m.steps.WithLabelValues(step).Observe(time.Since(start).Seconds())
}
