package main

import (
	"strings"
	"testing"
)

// Profiles show the daemon's internals: serve takes a loopback address for
// them and refuses any other before it starts, naming the flag.
func TestPprofOnlyOnLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:6060", "localhost6060"} {
		r := run(t, "serve", "--pprof-addr", addr)
		if r.code != 2 || !strings.Contains(r.stderr, "--pprof-addr") {
			t.Errorf("--pprof-addr %s: exit %d, %q", addr, r.code, r.stderr)
		}
	}
}
