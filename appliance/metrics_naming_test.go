package appliance

import (
	"regexp"
	"strings"
	"testing"
)

// checkPrometheusNaming holds a scrape to Prometheus' naming conventions,
// for the appliance's own series: counters end in _total, no series is a
// precomputed rate (PromQL's rate() is), units are spelled out, and the
// host's CPU, memory, load, temperatures and uptime are left to
// node_exporter.
func checkPrometheusNaming(t *testing.T, body string) {
	t.Helper()
	types := regexp.MustCompile(`(?m)^# TYPE (edgetriage_\S+) (\S+)$`).FindAllStringSubmatch(body, -1)
	if len(types) < 10 {
		t.Fatalf("only %d edgetriage series types scraped", len(types))
	}
	hostMetric := regexp.MustCompile(`_(cpu|memory|load\d*|temperature|uptime|host)_`)
	for _, m := range types {
		name, kind := m[1], m[2]
		switch {
		case kind == "counter" && !strings.HasSuffix(name, "_total"):
			t.Errorf("counter %s does not end in _total", name)
		case kind != "counter" && strings.HasSuffix(name, "_total"):
			t.Errorf("%s ends in _total but is a %s", name, kind)
		case strings.Contains(name, "_per_second") || strings.HasSuffix(name, "_fps") || strings.Contains(name, "_24h"):
			t.Errorf("%s is a rate or a window: export the counter, let PromQL make the rate", name)
		case strings.Contains(name, "_percent"):
			t.Errorf("%s: ratios are 0..1 and named _ratio", name)
		case hostMetric.MatchString(name + "_"):
			t.Errorf("%s is a host metric node_exporter already gives", name)
		}
	}
}
