package dock_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/capture/dock"
)

// BenchmarkOffloadBay offloads a bay of 16 clips of 64 MiB (1 GiB) and, in
// the same run, copies the same tree with cp -r followed by sync, the
// plain copy an offload must not be much slower than. Each round uses a
// fresh vault (no resume points) and the never policy, so the camera is the
// same every time. Both read the bay from the page cache and both end with
// their bytes on disk. It reports the median of each and their ratio.
// Probing is off: it is the vault's cost, not the dock's.
func BenchmarkOffloadBay(b *testing.B) {
	const files, size = 16, 64 << 20
	bay := filepath.Join(b.TempDir(), "bay1")
	writeIdentity(b, bay, identity{Serial: "BENCH-1"})
	for i := range files {
		writeRandom(b, filepath.Join(bay, "DCIM", "100BWC", fmt.Sprintf("CLIP%04d.MP4", i)), size, camClock)
	}
	work := b.TempDir()
	const rounds = 3
	var offload, copyTimes []time.Duration
	b.SetBytes(files * size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := range rounds {
			offload = append(offload, timeOffload(b, bay, filepath.Join(work, fmt.Sprintf("vault-%d-%d", i, r))))
			copyTimes = append(copyTimes, timeCopy(b, bay, filepath.Join(work, fmt.Sprintf("cp-%d-%d", i, r))))
		}
	}
	b.StopTimer()
	mo, mc := median(offload), median(copyTimes)
	gib := float64(files*size) / (1 << 30)
	b.ReportMetric(mo.Seconds(), "offload-s")
	b.ReportMetric(mc.Seconds(), "cp+sync-s")
	b.ReportMetric(mo.Seconds()/mc.Seconds(), "ratio")
	b.Logf("%.0f GiB: offload median %v (%v), cp -r + sync median %v (%v), ratio %.2f",
		gib, mo, offload, mc, copyTimes, mo.Seconds()/mc.Seconds())
}

func timeOffload(b *testing.B, bay, dir string) time.Duration {
	syncDisks(b)
	v := openPlainVault(b, dir)
	d := newDock(b, v, dock.Config{Profiles: []dock.Profile{profile(dock.ReleaseNever)}}, nil)
	start := time.Now()
	rep, err := d.Offload(context.Background(), bay)
	el := time.Since(start)
	if err != nil || !rep.Complete() {
		b.Fatalf("offload: %v %+v", err, rep)
	}
	v.Close()
	os.RemoveAll(dir)
	return el
}

func timeCopy(b *testing.B, bay, dst string) time.Duration {
	syncDisks(b)
	start := time.Now()
	if out, err := exec.Command("cp", "-r", bay, dst).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v %s", err, out)
	}
	syncDisks(b)
	el := time.Since(start)
	os.RemoveAll(dst)
	return el
}

func syncDisks(b testing.TB) {
	if out, err := exec.Command("sync").CombinedOutput(); err != nil {
		b.Fatalf("sync: %v %s", err, out)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
