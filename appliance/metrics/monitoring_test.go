package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// exported is every series name this package can export.
func exported(t *testing.T) map[string]bool {
	ch := make(chan *prometheus.Desc, 100)
	for _, c := range []prometheus.Collector{&vaultCollector{}, healthCollector{}, Parts{}, buildInfo{}} {
		c.Describe(ch)
	}
	close(ch)
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range ch {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		names[m[1]] = true
	}
	return names
}

var seriesRef = regexp.MustCompile(`edgetriage_[a-z0-9_]+`)

// The alert rules and the Grafana dashboard shipped in the package ask
// only for series the appliance exports: a renamed metric fails here, not
// silently on a station's wall.
func TestShippedMonitoringNamesRealSeries(t *testing.T) {
	names := exported(t)
	raw, err := os.ReadFile("../../packaging/monitoring/prometheus-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alert rules: %v", err)
	}
	exprs := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs["alert "+r.Alert] = r.Expr
		}
	}
	raw, err = os.ReadFile("../../packaging/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs["panel "+p.Title] += " " + tg.Expr
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d rules and panels read", len(exprs))
	}
	for where, expr := range exprs {
		refs := seriesRef.FindAllString(expr, -1)
		if len(refs) == 0 && where != "alert EdgetriageDown" {
			t.Errorf("%s queries no edgetriage series: %s", where, expr)
		}
		for _, ref := range refs {
			if !names[ref] {
				t.Errorf("%s asks for %s, which the appliance does not export", where, ref)
			}
		}
	}
}
