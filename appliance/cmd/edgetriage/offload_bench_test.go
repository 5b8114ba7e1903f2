package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The bench bay: 8 recordings of about 64 MiB, as the issue measured.
const cliBenchFiles, cliBenchSize = 8, 64 << 20

// BenchmarkOffloadCLI times `edgetriage offload` (the path users run: the
// binary, the vault with media probing, verify by re-reading from the
// disk) on a bay held in the page cache, against a verified copy made with
// plain tools in the same run: cp -r, sync, the copies' cached pages
// dropped, openssl sha256 of the copies. Each op is three rounds of both
// on fresh targets, and reports the median of the per-round ratios; "real"
// is a bay of real H.264 recordings, "random" one of random bytes named
// .MP4 (what ffprobe makes of those was one cost of the CLI).
func BenchmarkOffloadCLI(b *testing.B) {
	for _, kind := range []string{"real", "random"} {
		b.Run(kind, func(b *testing.B) {
			bay := filepath.Join(b.TempDir(), "bay")
			writeCLIBenchBay(b, bay, kind == "random")
			var ratios, cli, plain []float64
			b.SetBytes(cliBenchFiles * cliBenchSize)
			for b.Loop() {
				for r := range 3 {
					work := b.TempDir()
					readTree(b, bay) // the bay is in the page cache for both
					p := timePlainVerifiedCopy(b, bay, filepath.Join(work, fmt.Sprintf("cp-%d", r)))
					readTree(b, bay)
					c := timeCLIOffload(b, bay, filepath.Join(work, fmt.Sprintf("data-%d", r)))
					ratios, cli, plain = append(ratios, c/p), append(cli, c), append(plain, p)
				}
			}
			b.ReportMetric(median(ratios), "cli/verified-copy")
			b.ReportMetric(median(cli), "cli-s")
			b.ReportMetric(median(plain), "verified-copy-s")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// writeCLIBenchBay makes a docked camera: real recordings are a footage
// clip looped by stream copy to about 64 MiB, each with its own metadata
// so no two are the same bytes.
func writeCLIBenchBay(b *testing.B, bay string, random bool) {
	dcim := filepath.Join(bay, "DCIM", "100BWC")
	if err := os.MkdirAll(dcim, 0o755); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(bay, "device.json"), []byte(`{"serial":"BENCH-CLI","model":"BWC-3","officer":"PC 1"}`), 0o644)
	for i := range cliBenchFiles {
		out := filepath.Join(dcim, fmt.Sprintf("CLIP%04d.MP4", i))
		if random {
			f, err := os.Create(out)
			if err != nil {
				b.Fatal(err)
			}
			_, err = io.CopyN(f, rand.Reader, cliBenchSize)
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			continue
		}
		// parking-cars.mp4 is 2.8 MB: 23 loops are about 64 MiB.
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "22",
			"-i", filepath.Join(footage, "parking-cars.mp4"), "-c", "copy", "-metadata", fmt.Sprintf("comment=bench %d", i), out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("make a bench recording: %v %s", err, msg)
		}
	}
}

func readTree(b *testing.B, dir string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, f)
			f.Close()
		}
		return nil
	})
}

// timePlainVerifiedCopy is the plain tools' verified copy, in seconds.
func timePlainVerifiedCopy(b *testing.B, bay, dst string) float64 {
	start := time.Now()
	if msg, err := exec.Command("cp", "-r", bay, dst).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v %s", err, msg)
	}
	if err := exec.Command("sync").Run(); err != nil {
		b.Fatal(err)
	}
	var copies []string
	filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			copies = append(copies, p)
			dropCached(b, p)
		}
		return nil
	})
	if msg, err := exec.Command("openssl", append([]string{"sha256"}, copies...)...).CombinedOutput(); err != nil {
		b.Fatalf("openssl: %v %s", err, msg)
	}
	return time.Since(start).Seconds()
}

// dropCached drops one file's clean pages: "drop caches" for the copies
// alone, without emptying the cache of everything else on the machine.
func dropCached(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
}

// timeCLIOffload runs the binary as a user would, in seconds.
func timeCLIOffload(b *testing.B, bay, data string) float64 {
	start := time.Now()
	r := run(b, "offload", "--data", data, bay)
	el := time.Since(start).Seconds()
	if r.code != 0 {
		b.Fatalf("offload: exit %d: %s", r.code, r.stderr)
	}
	return el
}
