// Command edgetriage-verify checks export bundles offline, for whoever
// receives evidence from a station: a court, the defence, a disclosure
// officer. It is the bundle check of `edgetriage verify --bundle` with
// nothing else: no OpenCV, no cgo, one static file that starts in
// milliseconds and runs on any machine Go builds for.
//
// Usage:
//
//	edgetriage-verify (--pubkey KEY | --fingerprint FP) [--tsa-cert FILE] BUNDLE...
//
// Exit status 0 when every bundle is intact and signed by the pinned key;
// 1 when any is not (one line per bundle says which and why); 2 for a
// usage error.
package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/edgetriage/edgetriage/appliance/bundle"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
)

const usage = `Usage: edgetriage-verify (--pubkey KEY | --fingerprint FP) [--tsa-cert FILE] BUNDLE...

Checks export bundles of an edgetriage station offline: the manifest's
signature against the station key you pin (--pubkey: the key in hex, or a
file holding it; --fingerprint: the 64 hex characters the station printed at
first start), the item's custody events and their inclusion proof in the
signed checkpoint of the station's custody log, and the item's bytes against
its SHA-256. Pin the key from a record made outside the bundle: a key read
from the bundle itself proves only that nothing changed since it was signed.

When the station's checkpoints are timestamped by a time-stamp authority
(RFC 3161), --tsa-cert takes the TSA's CA certificate (PEM): the token in
the bundle is checked against it and the line "checkpoint N existed by T
(TSA ...)" says when the item's custody record existed, in the TSA's word,
not the station's.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgetriage-verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	pubkey := fs.String("pubkey", "", "the station's public `key` (hex, or a file holding it)")
	fingerprint := fs.String("fingerprint", "", "the station key's `fingerprint` as printed at first start")
	tsaCert := fs.String("tsa-cert", "", "the time-stamp authority's CA certificate `file` (PEM)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if raw, err := os.ReadFile(*pubkey); *pubkey != "" && err == nil {
		*pubkey = string(raw)
	}
	pin, err := evidence.ParseKeyPin(*pubkey, *fingerprint)
	if err != nil {
		fmt.Fprintf(stderr, "edgetriage-verify: %v\n", err)
		return 2
	}
	var roots *x509.CertPool
	if *tsaCert != "" {
		if roots, err = custodylog.ReadCertPool(*tsaCert); err != nil {
			fmt.Fprintf(stderr, "edgetriage-verify: --tsa-cert: %v\n", err)
			return 2
		}
	}
	code := 0
	for _, path := range fs.Args() {
		if !verify(path, pin, roots, stdout) {
			code = 1
		}
	}
	if !pin.Set() {
		fmt.Fprintln(stderr, "edgetriage-verify: pass --pubkey or --fingerprint with the station's key as recorded outside the bundle")
	}
	return code
}

// verify checks one bundle and prints one line about it.
func verify(path string, pin evidence.KeyPin, roots *x509.CertPool, stdout io.Writer) bool {
	r, err := bundle.Verify(path, pin.Key)
	if err != nil {
		fmt.Fprintln(stdout, err)
		return false
	}
	if roots != nil {
		t, err := r.CheckTime(roots)
		switch {
		case errors.Is(err, bundle.ErrNoTimestamp):
			fmt.Fprintf(stdout, "%s: %v\n", path, err)
		case err != nil:
			fmt.Fprintf(stdout, "%s: %v\n", path, err)
			return false
		default:
			fmt.Fprintf(stdout, "%s: %s\n", path, t)
		}
	}
	if err := pin.Check(r.Key); err != nil {
		fmt.Fprintf(stdout, "%s: %v: %s\n", path, err, r.Summary())
		return false
	}
	fmt.Fprintf(stdout, "%s: intact: %s\n", path, r.PinnedSummary())
	if r.Provenance != nil {
		for _, l := range r.Provenance.Lines() {
			fmt.Fprintln(stdout, "  "+l)
		}
	}
	return true
}
