package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgetriage/edgetriage/hardware"
)

// Only the appliance's own judgement of the host is exported: its alarms
// (raised with hysteresis and recorded in the custody chain). CPU, memory,
// load, temperatures, uptime and disk I/O are node_exporter's to report.
var descAlarms = prometheus.NewDesc("edgetriage_health_alarm_active", "1 while a health alarm is raised.", []string{"alarm"}, nil)

// healthCollector reports the sampler's raised alarms at scrape time.
type healthCollector struct{ s *hardware.Sampler }

func (h healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descAlarms }

func (h healthCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range h.s.Alarms() {
		ch <- prometheus.MustNewConstMetric(descAlarms, prometheus.GaugeValue, 1, a.Name)
	}
}
