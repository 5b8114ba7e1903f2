package testkit

// A real RFC 3161 time-stamp authority on loopback: OpenSSL's `openssl ts
// -reply` answers each request (openssl has no server mode, so a small
// HTTP handler runs it once per request), with a CA and a TSA certificate
// (extendedKeyUsage critical timeStamping) made by openssl for the test.

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// TSA is a running time-stamp authority.
type TSA struct {
	URL string
	// CACertFile is the PEM certificate of the CA that issued the TSA's
	// certificate: what a verifier trusts.
	CACertFile string
	CA         *x509.Certificate
	// Subject is the TSA certificate's subject as Go prints it.
	Subject string

	dir    string
	srv    *httptest.Server
	mu     sync.Mutex
	down   bool
	served int
}

// StartTSA makes the keys and certificates and starts the TSA; it stops
// with the test.
func StartTSA(t testing.TB) *TSA {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is needed for the test TSA (scripts/deps.sh installs it): %v", err)
	}
	dir := t.TempDir()
	tsa := &TSA{dir: dir, CACertFile: filepath.Join(dir, "ca.crt")}
	tsa.makeCertificates(t)
	tsa.srv = httptest.NewServer(http.HandlerFunc(tsa.reply))
	t.Cleanup(tsa.srv.Close)
	tsa.URL = tsa.srv.URL + "/tsa"
	return tsa
}

const tsaConfig = `[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = %[1]s
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/ca.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.55555.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`

func (tsa *TSA) makeCertificates(t testing.TB) {
	t.Helper()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(tsa.dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tsa.cnf", fmt.Sprintf(tsaConfig, tsa.dir))
	write("serial", "01\n")
	write("tsa.ext", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=critical,timeStamping\n")
	tsa.openssl(t, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
		"-subj", "/O=edgetriage tests/CN=Test TSA Root CA", "-addext", "basicConstraints=critical,CA:TRUE",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign")
	tsa.openssl(t, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
		"-subj", "/O=edgetriage tests/CN=Test Time-Stamp Authority")
	tsa.openssl(t, "x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
		"-out", "tsa.crt", "-days", "3650", "-extfile", "tsa.ext")
	tsa.CA = readCert(t, tsa.CACertFile)
	tsa.Subject = readCert(t, filepath.Join(tsa.dir, "tsa.crt")).Subject.String()
}

func (tsa *TSA) openssl(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = tsa.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
}

func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		t.Fatalf("%s holds no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Pool is a certificate pool holding only the TSA's CA.
func (tsa *TSA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(tsa.CA)
	return p
}

// SetDown makes the TSA refuse every request (503) while down is true: a
// TSA that is unreachable or failing, as the appliance sees it.
func (tsa *TSA) SetDown(down bool) {
	tsa.mu.Lock()
	defer tsa.mu.Unlock()
	tsa.down = down
}

// Served is how many tokens the TSA has issued.
func (tsa *TSA) Served() int {
	tsa.mu.Lock()
	defer tsa.mu.Unlock()
	return tsa.served
}

func (tsa *TSA) reply(w http.ResponseWriter, r *http.Request) {
	tsa.mu.Lock()
	down := tsa.down
	tsa.mu.Unlock()
	if down {
		http.Error(w, "TSA down for the test", http.StatusServiceUnavailable)
		return
	}
	query, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "want a POSTed timestamp query", http.StatusBadRequest)
		return
	}
	f, err := os.CreateTemp(tsa.dir, "query-*.tsq")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.Remove(f.Name())
	f.Write(query)
	f.Close()
	tsa.mu.Lock() // openssl updates its serial file: one reply at a time
	defer tsa.mu.Unlock()
	cmd := exec.Command("openssl", "ts", "-reply", "-config", filepath.Join(tsa.dir, "tsa.cnf"), "-queryfile", f.Name())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		http.Error(w, fmt.Sprintf("openssl ts -reply: %v: %s", err, stderr.Bytes()), http.StatusInternalServerError)
		return
	}
	tsa.served++
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(out)
}

// Reply posts an RFC 3161 request to the TSA and returns its reply, as a
// client on the network would get it.
func (tsa *TSA) Reply(t testing.TB, query []byte) []byte {
	t.Helper()
	resp, err := http.Post(tsa.URL, "application/timestamp-query", bytes.NewReader(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("TSA: %s, %v: %s", resp.Status, err, reply)
	}
	return reply
}
