package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// Without a token /metrics answers the appliance itself only: the series
// say what the station holds and does. With one, anyone with it.
func TestMetricsWithoutATokenAnswerLoopbackOnly(t *testing.T) {
	v, err := vault.Open(context.Background(), t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.IngestReader(context.Background(), strings.NewReader("clip bytes"), evidence.Intake{Source: "cam"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(&vaultCollector{v: v})
	inner := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	scrape := func(h http.Handler, remote, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = remote
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	open := guarded(inner, "")
	if w := scrape(open, "10.1.2.3:5000", ""); w.Code != http.StatusForbidden {
		t.Fatalf("from the network without a token: %d", w.Code)
	}
	w := scrape(open, "127.0.0.1:5000", "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `edgetriage_vault_items{state="stored"} 1`) {
		t.Fatalf("from loopback: %d %.300s", w.Code, w.Body.String())
	}
	withToken := guarded(inner, "s3cret")
	if w := scrape(withToken, "10.1.2.3:5000", "s3cret"); w.Code != http.StatusOK {
		t.Fatalf("from the network with the token: %d", w.Code)
	}
	if w := scrape(withToken, "127.0.0.1:5000", ""); w.Code != http.StatusUnauthorized {
		t.Fatalf("loopback without the configured token: %d", w.Code)
	}
}
