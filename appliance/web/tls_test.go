package web_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/web"
)

func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true,
		"0.0.0.0:8080": false, ":8080": false, "192.168.1.20:8080": false, "station.local:8080": false,
	} {
		err := web.CheckListen(addr, false)
		if (err == nil) != ok {
			t.Errorf("plain HTTP on %s: %v", addr, err)
		}
		if err != nil && !strings.Contains(err.Error(), "loopback") {
			t.Errorf("refusal for %s does not say why: %v", addr, err)
		}
		if err := web.CheckListen(addr, true); err != nil {
			t.Errorf("TLS on %s refused: %v", addr, err)
		}
	}
}

func TestSelfSignedCertificateMadeOnceAndCookiesSecure(t *testing.T) {
	data := t.TempDir()
	cfg, err := web.TLSConfig(data, "", "", []string{"192.168.7.2", "station-12"})
	if err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(data, "tls", "self-signed.crt")
	first, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := web.TLSConfig(data, "", "", nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(certPath); !bytes.Equal(first, again) {
		t.Fatal("the self-signed certificate was replaced on the second start")
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("192.168.7.2"); err != nil {
		t.Errorf("certificate does not cover the configured address: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(data, "tls", "self-signed.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode().Perm())
	}
	if _, err := web.TLSConfig(data, certPath, "", nil); err == nil {
		t.Error("a certificate without a key was accepted")
	}

	f := newFixture(t, web.Config{})
	srv := httptest.NewUnstartedServer(f.web.Handler())
	srv.TLS = cfg
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	res, err := hc.Post(srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"user":"sam","password":"`+staffPass+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("login over TLS: %d", res.StatusCode)
	}
	for _, c := range res.Cookies() {
		if !c.Secure || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %s over TLS: secure %v samesite %v", c.Name, c.Secure, c.SameSite)
		}
		if c.Name == auth.SessionCookie && !c.HttpOnly {
			t.Error("session cookie readable by scripts")
		}
	}
}
