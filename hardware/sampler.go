package hardware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/sensors"
	"golang.org/x/sys/unix"
)

// Snapshot is one health sample, as the API and dashboard show it.
type Snapshot struct {
	Time   time.Time `json:"time"`
	CPU    CPU       `json:"cpu"`
	Memory Memory    `json:"memory"`
	Load   Load      `json:"load"`
	// Vault is the volume holding the evidence.
	Vault        Disk          `json:"vault_disk"`
	Temperatures []Temperature `json:"temperatures"`
	// TemperatureNote says why there are no temperatures, e.g. "no sensors".
	TemperatureNote string  `json:"temperature_note,omitempty"`
	UptimeSeconds   uint64  `json:"uptime_s"`
	Network         []NetIO `json:"network"`
	Alarms          []Alarm `json:"alarms"`
	// Errors lists the parts that could not be read this time.
	Errors []string `json:"errors,omitempty"`
}

// CPU is the share of time all CPUs were busy since the previous sample.
type CPU struct {
	Percent float64 `json:"percent"`
	// Valid is false for the first sample, which has nothing to compare with.
	Valid bool `json:"valid"`
}

// Memory is RAM use.
type Memory struct {
	Total       uint64  `json:"total"`
	Available   uint64  `json:"available"`
	Used        uint64  `json:"used"`
	UsedPercent float64 `json:"used_percent"`
}

// Load is the run-queue average.
type Load struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
	CPUs   int     `json:"cpus"`
}

// Disk is the space and I/O of the volume holding a path.
type Disk struct {
	Space
	Fstype string `json:"fstype"`
	// Device is the block device behind the path ("" for tmpfs, overlay
	// and other file systems without one); IO is nil then.
	Device string  `json:"device,omitempty"`
	IO     *DiskIO `json:"io,omitempty"`
}

// DiskIO is the device's counters since boot and the rates since the
// previous sample.
type DiskIO struct {
	ReadBytes      uint64  `json:"read_bytes"`
	WriteBytes     uint64  `json:"write_bytes"`
	Reads          uint64  `json:"reads"`
	Writes         uint64  `json:"writes"`
	ReadBytesPerS  float64 `json:"read_bytes_per_s"`
	WriteBytesPerS float64 `json:"write_bytes_per_s"`
	BusyPercent    float64 `json:"busy_percent"`
	ioTimeMillis   uint64
}

// Temperature is one sensor.
type Temperature struct {
	Sensor   string  `json:"sensor"`
	Celsius  float64 `json:"celsius"`
	High     float64 `json:"high,omitempty"`
	Critical float64 `json:"critical,omitempty"`
}

// NetIO is one network interface's counters since boot.
type NetIO struct {
	Name        string `json:"name"`
	BytesSent   uint64 `json:"bytes_sent"`
	BytesRecv   uint64 `json:"bytes_recv"`
	PacketsSent uint64 `json:"packets_sent"`
	PacketsRecv uint64 `json:"packets_recv"`
	Errors      uint64 `json:"errors"`
	Drops       uint64 `json:"drops"`
}

// Options tune a Sampler; the zero value is right for the daemon.
type Options struct {
	Logger *slog.Logger
}

// Sampler reads the machine's health every Config.Interval.
type Sampler struct {
	cfg    Config
	path   string
	alarms *Alarms
	log    *slog.Logger

	mu      sync.Mutex // guards the fields below and serialises samples
	prevCPU *cpu.TimesStat
	prevIO  *DiskIO
	prevAt  time.Time
	last    Snapshot
}

// NewSampler watches the machine and the volume holding vaultPath, and
// reports alarm changes to sink (which may be nil).
func NewSampler(cfg Config, vaultPath string, sink AlarmSink, opts Options) (*Sampler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(vaultPath)
	if err != nil {
		return nil, fmt.Errorf("health: vault path %s: %w", vaultPath, err)
	}
	return &Sampler{cfg: cfg, path: abs, alarms: NewAlarms(cfg, sink), log: opts.Logger}, nil
}

// Run samples until ctx ends. A part that cannot be read is reported in the
// snapshot, not as a failure: health must keep running on odd hardware.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.Sample(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("health sample", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Last returns the latest snapshot (zero before the first sample).
func (s *Sampler) Last() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Alarms returns the alarms currently raised.
func (s *Sampler) Alarms() []Alarm { return s.alarms.Active() }

// Sample reads everything once, evaluates the thresholds and returns the
// snapshot. The error is about reporting alarms; unreadable parts are
// listed in Snapshot.Errors.
func (s *Sampler) Sample(ctx context.Context) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	snap := Snapshot{Time: now.UTC(), Temperatures: []Temperature{}, Network: []NetIO{}}
	fail := func(part string, err error) { snap.Errors = append(snap.Errors, part+": "+err.Error()) }

	if err := s.readCPU(ctx, &snap); err != nil {
		fail("cpu", err)
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err != nil {
		fail("memory", err)
	} else {
		snap.Memory = Memory{Total: vm.Total, Available: vm.Available, Used: vm.Used, UsedPercent: vm.UsedPercent}
	}
	if err := readLoad(ctx, &snap); err != nil {
		fail("load", err)
	}
	if err := s.readDisk(ctx, &snap, now); err != nil {
		fail("vault disk", err)
	}
	readTemperatures(ctx, &snap)
	if up, err := host.UptimeWithContext(ctx); err != nil {
		fail("uptime", err)
	} else {
		snap.UptimeSeconds = up
	}
	if err := readNetwork(ctx, &snap); err != nil {
		fail("network", err)
	}
	s.prevAt = now
	var err error
	snap.Alarms, err = s.alarms.Evaluate(ctx, snap)
	s.last = snap
	return snap, err
}

func (s *Sampler) readCPU(ctx context.Context, snap *Snapshot) error {
	times, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return err
	}
	if len(times) == 0 {
		return errors.New("no CPU times")
	}
	cur := times[0]
	if prev := s.prevCPU; prev != nil {
		busy, all := busyTime(cur)-busyTime(*prev), allTime(cur)-allTime(*prev)
		if all > 0 {
			snap.CPU = CPU{Percent: min(100, max(0, 100*busy/all)), Valid: true}
		}
	}
	s.prevCPU = &cur
	return nil
}

// Guest time is already counted in user time on Linux, so it is left out.
func busyTime(t cpu.TimesStat) float64 {
	return t.User + t.Nice + t.System + t.Irq + t.Softirq + t.Steal
}

func allTime(t cpu.TimesStat) float64 { return busyTime(t) + t.Idle + t.Iowait }

func readLoad(ctx context.Context, snap *Snapshot) error {
	avg, err := load.AvgWithContext(ctx)
	if err != nil {
		return err
	}
	n, err := cpu.CountsWithContext(ctx, true)
	if err != nil {
		return err
	}
	snap.Load = Load{Load1: avg.Load1, Load5: avg.Load5, Load15: avg.Load15, CPUs: n}
	return nil
}

func (s *Sampler) readDisk(ctx context.Context, snap *Snapshot, now time.Time) error {
	u, err := disk.UsageWithContext(ctx, s.path)
	if err != nil {
		return err
	}
	snap.Vault = Disk{Space: spaceOf(s.path, u), Fstype: u.Fstype}
	dev, err := blockDevice(s.path)
	if err != nil || dev == "" {
		return err
	}
	snap.Vault.Device = dev
	counters, err := disk.IOCountersWithContext(ctx, dev)
	if err != nil {
		return err
	}
	c, ok := counters[dev]
	if !ok {
		return fmt.Errorf("no I/O counters for %s", dev)
	}
	io := &DiskIO{ReadBytes: c.ReadBytes, WriteBytes: c.WriteBytes, Reads: c.ReadCount, Writes: c.WriteCount, ioTimeMillis: c.IoTime}
	if prev := s.prevIO; prev != nil && !s.prevAt.IsZero() {
		if dt := now.Sub(s.prevAt).Seconds(); dt > 0 {
			io.ReadBytesPerS = float64(c.ReadBytes-prev.ReadBytes) / dt
			io.WriteBytesPerS = float64(c.WriteBytes-prev.WriteBytes) / dt
			io.BusyPercent = min(100, float64(c.IoTime-prev.ioTimeMillis)/10/dt)
		}
	}
	s.prevIO = io
	snap.Vault.IO = io
	return nil
}

// blockDevice names the block device holding path, found through the
// device number of the file system rather than mount-point matching, so
// bind mounts and symlinked data dirs resolve right. File systems with no
// device (tmpfs, overlay) give "".
func blockDevice(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", fmt.Errorf("stat %s: %w", path, err)
	}
	uevent := fmt.Sprintf("/sys/dev/block/%d:%d/uevent", unix.Major(st.Dev), unix.Minor(st.Dev))
	b, err := os.ReadFile(uevent)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			return name, nil
		}
	}
	return "", nil
}

func readTemperatures(ctx context.Context, snap *Snapshot) {
	temps, err := sensors.TemperaturesWithContext(ctx)
	for _, t := range temps {
		if t.Temperature <= 0 {
			continue // unconnected inputs read 0
		}
		snap.Temperatures = append(snap.Temperatures, Temperature{Sensor: t.SensorKey, Celsius: t.Temperature, High: t.High, Critical: t.Critical})
	}
	switch {
	case len(snap.Temperatures) > 0:
	case err != nil:
		snap.TemperatureNote = "no sensors readable: " + err.Error()
	default:
		snap.TemperatureNote = "no sensors"
	}
}

func readNetwork(ctx context.Context, snap *Snapshot) error {
	nics, err := net.IOCountersWithContext(ctx, true)
	if err != nil {
		return err
	}
	for _, n := range nics {
		snap.Network = append(snap.Network, NetIO{Name: n.Name, BytesSent: n.BytesSent, BytesRecv: n.BytesRecv,
			PacketsSent: n.PacketsSent, PacketsRecv: n.PacketsRecv, Errors: n.Errin + n.Errout, Drops: n.Dropin + n.Dropout})
	}
	return nil
}
