package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

var descBuildInfo = prometheus.NewDesc("edgetriage_build_info",
	"Always 1; the labels say which build is running (join on it to see a fleet's versions).",
	[]string{"version", "goversion"}, nil)

// buildInfo is the running binary's version, stamped at build time.
type buildInfo struct{ version string }

func (b buildInfo) Describe(ch chan<- *prometheus.Desc) { ch <- descBuildInfo }

func (b buildInfo) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descBuildInfo, prometheus.GaugeValue, 1, b.version, runtime.Version())
}
