package hardware

import (
	"errors"
	"fmt"
	"time"
)

// Config is the health section of the appliance configuration.
type Config struct {
	// Interval is the time between samples.
	Interval time.Duration `yaml:"interval"`
	// Thresholds per measurement; a zero Raise disables that alarm.
	CPUPercent      Threshold `yaml:"cpu_percent"`
	MemoryPercent   Threshold `yaml:"memory_percent"`
	Load1PerCPU     Threshold `yaml:"load1_per_cpu"` // 1-minute load divided by the CPU count
	DiskUsedPercent Threshold `yaml:"disk_used_percent"`
	TemperatureC    Threshold `yaml:"temperature_c"` // the hottest sensor
}

// Threshold raises an alarm when a value reaches Raise and clears it only
// once the value is back below Clear, so a value hovering at the limit does
// not flap.
type Threshold struct {
	Raise float64 `yaml:"raise"`
	Clear float64 `yaml:"clear"`
}

// DefaultConfig is a station appliance's sensible defaults.
func DefaultConfig() Config {
	return Config{
		Interval:        30 * time.Second,
		CPUPercent:      Threshold{Raise: 95, Clear: 80},
		MemoryPercent:   Threshold{Raise: 90, Clear: 80},
		Load1PerCPU:     Threshold{Raise: 4, Clear: 2},
		DiskUsedPercent: Threshold{Raise: 90, Clear: 85},
		TemperatureC:    Threshold{Raise: 85, Clear: 75},
	}
}

// Validate checks the values and names the key at fault.
func (c Config) Validate() error {
	var errs []error
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("'health.interval' must be greater than zero"))
	}
	for _, t := range c.thresholds() {
		switch {
		case t.th.Raise < 0 || t.th.Clear < 0:
			errs = append(errs, fmt.Errorf("'health.%s': raise and clear must not be negative", t.key))
		case t.th.Raise > 0 && t.th.Clear >= t.th.Raise:
			errs = append(errs, fmt.Errorf("'health.%s.clear' (%g) must be below 'raise' (%g), or the alarm would flap", t.key, t.th.Clear, t.th.Raise))
		}
	}
	return errors.Join(errs...)
}

type namedThreshold struct {
	key string // config key, also the alarm name
	th  Threshold
}

func (c Config) thresholds() []namedThreshold {
	return []namedThreshold{
		{"cpu_percent", c.CPUPercent}, {"memory_percent", c.MemoryPercent}, {"load1_per_cpu", c.Load1PerCPU},
		{"disk_used_percent", c.DiskUsedPercent}, {"temperature_c", c.TemperatureC},
	}
}
