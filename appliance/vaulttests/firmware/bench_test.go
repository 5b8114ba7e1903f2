package firmware_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkApplyImage measures a verified write (archive read, write,
// fsync, re-read from the device, rename) against a plain fsync'd write of
// the same bytes, measured in the same run.
func BenchmarkApplyImage(b *testing.B) {
	const size = 32 << 20
	e := newEnv(b, nil)
	e.stage("2.10.0", size)
	img := image("2.10.0", size)
	cam := newCamera(b, "BWC-BENCH", model, "2.0.0", 90)
	ctx := context.Background()

	var plain time.Duration
	for range 3 {
		start := time.Now()
		f, err := os.Create(filepath.Join(cam.root, "plain.bin"))
		if err != nil {
			b.Fatal(err)
		}
		f.Write(img)
		f.Sync()
		f.Close()
		plain += time.Since(start)
	}
	plain /= 3

	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := e.m.Apply(ctx, cam.identity(), cam.root); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per)/float64(plain), "x_plain_write")
}
