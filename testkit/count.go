package testkit

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CountRuns puts a counting stand-in for program first on PATH for the
// rest of the test; it runs the real program with the same arguments, so
// nothing changes but that its starts are counted. The returned function
// says how many there have been so far. Only programs found through PATH
// are counted.
func CountRuns(t testing.TB, program string) func() int {
	t.Helper()
	real, err := exec.LookPath(program)
	if err != nil {
		t.Skipf("%s not installed", program)
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "runs")
	script := "#!/bin/sh\necho run >> '" + log + "'\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, program), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return func() int {
		b, err := os.ReadFile(log)
		if errors.Is(err, fs.ErrNotExist) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "run\n")
	}
}
