package testkit

import (
	"testing"
	"time"
)

// WaitFor checks cond every 20 ms until it holds, and fails the test when
// it still does not after within. Give within generously: the machine
// running the tests is shared, and a slow pass is not a failure.
func WaitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
