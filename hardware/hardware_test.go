package hardware_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edgetriage/edgetriage/hardware"
)

type recorder struct {
	mu     sync.Mutex
	events []hardware.Alarm
}

func (r *recorder) AlarmChanged(_ context.Context, a hardware.Alarm) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, a)
	return nil
}

func (r *recorder) got() []hardware.Alarm {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hardware.Alarm(nil), r.events...)
}

func quiet() hardware.Config {
	c := hardware.DefaultConfig()
	c.CPUPercent, c.MemoryPercent, c.Load1PerCPU, c.DiskUsedPercent, c.TemperatureC = hardware.Threshold{}, hardware.Threshold{}, hardware.Threshold{}, hardware.Threshold{}, hardware.Threshold{}
	return c
}

func TestSamplerReadsThisMachine(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := hardware.NewSampler(hardware.DefaultConfig(), dir, nil, hardware.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.CPU.Valid {
		t.Error("the first sample claims a CPU percentage with nothing to compare with")
	}
	// Give the disk something to count: fsync'd bytes reach the device.
	f, _ := os.Create(filepath.Join(dir, "ballast"))
	f.Write(make([]byte, 8<<20))
	f.Sync()
	f.Close()
	time.Sleep(300 * time.Millisecond)
	snap, err := s.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Errors) > 0 {
		t.Errorf("parts not readable: %v", snap.Errors)
	}
	if !snap.CPU.Valid || snap.CPU.Percent < 0 || snap.CPU.Percent > 100 {
		t.Errorf("cpu %+v", snap.CPU)
	}
	if snap.Memory.Total < 64<<20 || snap.Memory.Used > snap.Memory.Total || snap.Memory.UsedPercent <= 0 || snap.Memory.UsedPercent > 100 {
		t.Errorf("memory %+v", snap.Memory)
	}
	if snap.Load.CPUs != runtime.NumCPU() || snap.Load.Load1 < 0 {
		t.Errorf("load %+v, %d CPUs", snap.Load, runtime.NumCPU())
	}
	v := snap.Vault
	if v.Path != dir || v.Total == 0 || v.Free > v.Total || v.UsedPercent < 0 || v.UsedPercent > 100 || v.Fstype == "" {
		t.Errorf("vault disk %+v", v)
	}
	if v.Device != "" {
		if v.IO == nil || v.IO.WriteBytes <= first.Vault.IO.WriteBytes || v.IO.WriteBytesPerS <= 0 {
			t.Errorf("8 MiB fsync'd to %s not seen in its I/O counters: before %+v after %+v", v.Device, first.Vault.IO, v.IO)
		}
	} else {
		t.Logf("vault dir on %s: no block device, no I/O counters", v.Fstype)
	}
	if len(snap.Temperatures) == 0 && snap.TemperatureNote == "" {
		t.Error("no temperatures and no note saying why")
	}
	for _, tc := range snap.Temperatures {
		if tc.Celsius <= 0 || tc.Celsius > 150 {
			t.Errorf("temperature %+v", tc)
		}
	}
	t.Logf("temperatures: %v %s", snap.Temperatures, snap.TemperatureNote)
	if snap.UptimeSeconds == 0 {
		t.Error("uptime 0")
	}
	var lo bool
	for _, n := range snap.Network {
		lo = lo || n.Name == "lo"
	}
	if !lo {
		t.Errorf("network %+v has no loopback", snap.Network)
	}
	if s.Last().Time != snap.Time {
		t.Error("Last is not the latest sample")
	}
}

func TestAlarmsRiseAndClearWithHysteresis(t *testing.T) {
	rec := &recorder{}
	cfg := quiet()
	cfg.DiskUsedPercent = hardware.Threshold{Raise: 90, Clear: 85}
	cfg.TemperatureC = hardware.Threshold{Raise: 80, Clear: 70}
	a := hardware.NewAlarms(cfg, rec)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	sample := func(diskPct float64, temps ...float64) []hardware.Alarm {
		t.Helper()
		s := hardware.Snapshot{Time: at, Vault: hardware.Disk{Space: hardware.Space{Total: 100, UsedPercent: diskPct}}}
		for i, c := range temps {
			s.Temperatures = append(s.Temperatures, hardware.Temperature{Sensor: fmt.Sprint("core", i), Celsius: c})
		}
		at = at.Add(time.Minute)
		active, err := a.Evaluate(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		return active
	}
	names := func(as []hardware.Alarm) string {
		var n []string
		for _, x := range as {
			n = append(n, x.Name)
		}
		return strings.Join(n, ",")
	}
	steps := []struct {
		disk    float64
		temps   []float64
		active  string
		notices int
	}{
		{50, []float64{40, 45}, "", 0},
		{90, []float64{40, 45}, "disk_used_percent", 1},               // at the limit: raised
		{87, []float64{40, 81}, "disk_used_percent,temperature_c", 2}, // between clear and raise: still on; the hottest sensor counts
		{89.9, []float64{72, 40}, "disk_used_percent,temperature_c", 2},
		{84, []float64{69}, "", 4}, // both below clear
		{88, nil, "", 4},           // below raise: stays clear; no sensors: temperature untouched
		{95, nil, "disk_used_percent", 5},
	}
	for i, st := range steps {
		if got := names(sample(st.disk, st.temps...)); got != st.active {
			t.Fatalf("step %d (disk %g, temps %v): active %q, want %q", i, st.disk, st.temps, got, st.active)
		}
		if n := len(rec.got()); n != st.notices {
			t.Fatalf("step %d: %d notices, want %d: %+v", i, n, st.notices, rec.got())
		}
	}
	ev := rec.got()
	if !ev[0].Active || ev[0].Threshold != 90 || ev[0].Value != 90 || !strings.Contains(ev[0].Message, "disk_used_percent") {
		t.Errorf("raise notice %+v", ev[0])
	}
	var cleared hardware.Alarm
	for _, e := range ev {
		if e.Name == "disk_used_percent" && !e.Active {
			cleared = e
		}
	}
	if cleared.Value != 84 || cleared.Threshold != 85 || !cleared.Since.Equal(ev[0].Since) {
		t.Errorf("clear notice %+v", cleared)
	}
}

func TestSamplerRaisesAlarmsOnThisMachine(t *testing.T) {
	rec := &recorder{}
	cfg := quiet()
	cfg.Interval = 50 * time.Millisecond
	cfg.DiskUsedPercent = hardware.Threshold{Raise: 0.0001, Clear: 0.00005}
	cfg.MemoryPercent = hardware.Threshold{Raise: 0.0001, Clear: 0.00005}
	s, err := hardware.NewSampler(cfg, t.TempDir(), rec, hardware.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Alarms()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a few more samples: no repeated notices
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := rec.got()
	if len(got) != 2 || len(s.Alarms()) != 2 || len(s.Last().Alarms) != 2 {
		t.Fatalf("notices %+v, active %+v", got, s.Alarms())
	}
	for _, a := range got {
		if !a.Active || a.Value <= 0 {
			t.Errorf("notice %+v", a)
		}
	}
}

type failingSink struct{}

func (failingSink) AlarmChanged(context.Context, hardware.Alarm) error {
	return errors.New("custody log closed")
}

func TestAlarmSinkErrorsAreReturned(t *testing.T) {
	cfg := quiet()
	cfg.CPUPercent = hardware.Threshold{Raise: 50, Clear: 40}
	a := hardware.NewAlarms(cfg, failingSink{})
	active, err := a.Evaluate(context.Background(), hardware.Snapshot{CPU: hardware.CPU{Percent: 99, Valid: true}})
	if err == nil || !strings.Contains(err.Error(), "custody log closed") || len(active) != 1 {
		t.Fatalf("active %+v, err %v", active, err)
	}
}

func TestConfigValidateNamesKey(t *testing.T) {
	c := hardware.DefaultConfig()
	c.DiskUsedPercent = hardware.Threshold{Raise: 80, Clear: 90}
	c.Interval = 0
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "'health.disk_used_percent.clear'") || !strings.Contains(err.Error(), "'health.interval'") {
		t.Fatalf("validate: %v", err)
	}
	if err := hardware.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

// smallFS is a file system of known size: an 8 MiB tmpfs when the test may
// mount one, a temp dir otherwise.
func smallFS(t *testing.T) (dir string, sized bool) {
	dir = t.TempDir()
	if os.Geteuid() != 0 {
		return dir, false
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Logf("cannot mount a tmpfs here (%v: %s); using the temp dir's file system", err, out)
		return dir, false
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir, true
}

func TestDiskSpace(t *testing.T) {
	ctx := context.Background()
	dir, sized := smallFS(t)
	before, err := hardware.DiskSpace(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if sized && before.Total != 8<<20 {
		t.Fatalf("8 MiB tmpfs reports %d bytes", before.Total)
	}
	if before.Free > before.Total || before.Used+before.Free > before.Total {
		t.Fatalf("space %+v", before)
	}
	if err := os.WriteFile(filepath.Join(dir, "fill"), make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	after, err := hardware.DiskSpace(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	drop := int64(before.Free) - int64(after.Free)
	if sized {
		// tmpfs accounts pages exactly.
		if drop != 3<<20 || math.Abs(after.UsedPercent-100*float64(after.Used)/float64(after.Total)) > 0.01 {
			t.Fatalf("3 MiB written: free %d -> %d (%+v)", before.Free, after.Free, after)
		}
	} else {
		t.Logf("shared file system: free dropped by %d bytes for 3 MiB written", drop)
	}
	if _, err := hardware.DiskSpace(ctx, filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing path: %v", err)
	}
}

func TestConfigFromYAML(t *testing.T) {
	cfg := hardware.DefaultConfig()
	raw := "interval: 10s\ndisk_used_percent: {raise: 80, clear: 70}\ntemperature_c: {raise: 0, clear: 0}\n"
	if err := yaml.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Interval != 10*time.Second || cfg.DiskUsedPercent != (hardware.Threshold{Raise: 80, Clear: 70}) || cfg.TemperatureC.Raise != 0 || cfg.CPUPercent.Raise != 95 {
		t.Fatalf("decoded %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
