package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgetriage/edgetriage/hardware"
)

var (
	descCPU     = prometheus.NewDesc("edgetriage_cpu_percent", "CPU use of the appliance host.", nil, nil)
	descMem     = prometheus.NewDesc("edgetriage_memory_used_percent", "Memory in use.", nil, nil)
	descLoad    = prometheus.NewDesc("edgetriage_load1", "One-minute load average.", nil, nil)
	descTemp    = prometheus.NewDesc("edgetriage_temperature_celsius", "Temperature per sensor.", []string{"sensor"}, nil)
	descAlarms  = prometheus.NewDesc("edgetriage_health_alarm_active", "1 while a health alarm is raised.", []string{"alarm"}, nil)
	descUptime  = prometheus.NewDesc("edgetriage_host_uptime_seconds", "Host uptime.", nil, nil)
	descDiskIOw = prometheus.NewDesc("edgetriage_vault_disk_write_bytes_per_second", "Write rate of the vault volume.", nil, nil)
)

// healthCollector reports the sampler's latest snapshot at scrape time.
type healthCollector struct{ s *hardware.Sampler }

func (h healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCPU, descMem, descLoad, descTemp, descAlarms, descUptime, descDiskIOw} {
		ch <- d
	}
}

func (h healthCollector) Collect(ch chan<- prometheus.Metric) {
	snap := h.s.Last()
	if snap.Time.IsZero() {
		return
	}
	if snap.CPU.Valid {
		ch <- prometheus.MustNewConstMetric(descCPU, prometheus.GaugeValue, snap.CPU.Percent)
	}
	ch <- prometheus.MustNewConstMetric(descMem, prometheus.GaugeValue, snap.Memory.UsedPercent)
	ch <- prometheus.MustNewConstMetric(descLoad, prometheus.GaugeValue, snap.Load.Load1)
	ch <- prometheus.MustNewConstMetric(descUptime, prometheus.GaugeValue, float64(snap.UptimeSeconds))
	for _, t := range snap.Temperatures {
		ch <- prometheus.MustNewConstMetric(descTemp, prometheus.GaugeValue, t.Celsius, t.Sensor)
	}
	for _, a := range h.s.Alarms() {
		ch <- prometheus.MustNewConstMetric(descAlarms, prometheus.GaugeValue, 1, a.Name)
	}
	if io := snap.Vault.IO; io != nil {
		ch <- prometheus.MustNewConstMetric(descDiskIOw, prometheus.GaugeValue, io.WriteBytesPerS)
	}
}
