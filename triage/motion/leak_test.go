package motion

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestThousandBadItemsDoNotLeak runs 1000 broken files through Analyze, as
// a triage queue would after a bad dock, and checks that memory, goroutines
// and file descriptors stay flat.
func TestThousandBadItemsDoNotLeak(t *testing.T) {
	bad := badInputs(t)
	// A short truncated clip keeps the run quick; the long one is covered
	// in TestBadInputGivesAClearError.
	dir := t.TempDir()
	fast := filepath.Join(dir, "static-faststart.mp4")
	ffmpeg(t, "-i", footage+"static-room.mp4", "-c", "copy", "-movflags", "+faststart", fast)
	b, err := os.ReadFile(fast)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "short-truncated.mp4")
	if err := os.WriteFile(cut, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	bad["truncated-mdat"] = cut
	paths := make([]string, 0, len(bad))
	for _, p := range bad {
		paths = append(paths, p)
	}
	run := func(n int) {
		for i := range n {
			_, err := Analyze(context.Background(), paths[i%len(paths)], DefaultConfig())
			if !errors.Is(err, ErrUndecodable) {
				t.Fatalf("%s: want ErrUndecodable, got %v", paths[i%len(paths)], err)
			}
		}
	}
	run(50) // let OpenCV and ffmpeg make their one-time allocations
	runtime.GC()
	g0, fd0, rss0 := runtime.NumGoroutine(), openFDs(t), rssMB(t)
	start := time.Now()
	run(1000)
	runtime.GC()
	time.Sleep(100 * time.Millisecond) // exec's wait goroutines finish
	g1, fd1, rss1 := runtime.NumGoroutine(), openFDs(t), rssMB(t)
	t.Logf("1000 bad items in %s: goroutines %d->%d, fds %d->%d, rss %.0f->%.0f MB",
		time.Since(start).Round(time.Second), g0, g1, fd0, fd1, rss0, rss1)
	if g1 > g0+2 || fd1 > fd0+2 || rss1 > rss0+60 {
		t.Fatalf("resources grew: goroutines %d->%d, fds %d->%d, rss %.0f->%.0f MB", g0, g1, fd0, fd1, rss0, rss1)
	}
}

func openFDs(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func rssMB(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return float64(pages*os.Getpagesize()) / (1 << 20)
}
