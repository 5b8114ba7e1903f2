// Package dock holds the tests of capture/dock that offload into a real
// vault (with media probing, as the daemon runs it): offload, verify,
// release, resume, bad input and faults, and BenchmarkOffloadBay. The
// leaf's own tests may not import the vault (docs/architecture.md,
// TestLayout), so they live here, beside the daemon that joins the two.
// It has no code of its own.
package dock
