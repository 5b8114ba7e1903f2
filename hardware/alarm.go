package hardware

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Alarm is one measurement past its threshold.
type Alarm struct {
	// Name is the threshold's config key: cpu_percent, memory_percent,
	// load1_per_cpu, disk_used_percent, temperature_c.
	Name      string    `json:"name"`
	Active    bool      `json:"active"` // false in the notice that clears it
	Value     float64   `json:"value"`
	Threshold float64   `json:"threshold"` // Raise when raised, Clear when cleared
	Since     time.Time `json:"since"`     // when it was raised
	At        time.Time `json:"at"`        // when this notice was made
	Message   string    `json:"message"`
}

// AlarmSink is told every time an alarm is raised or cleared; the daemon
// records a custody event (action alarm) and shows it on the dashboard.
type AlarmSink interface {
	AlarmChanged(ctx context.Context, a Alarm) error
}

// Alarms turns measurements into alarms with hysteresis. The sampler uses
// one; it can be fed any Snapshot.
type Alarms struct {
	cfg  Config
	sink AlarmSink

	mu     sync.Mutex
	active map[string]Alarm
}

// NewAlarms makes an evaluator; sink may be nil.
func NewAlarms(cfg Config, sink AlarmSink) *Alarms {
	return &Alarms{cfg: cfg, sink: sink, active: map[string]Alarm{}}
}

// Evaluate compares a snapshot with the thresholds, tells the sink of every
// change, and returns the alarms active afterwards, by name. Sink errors are
// returned after every change has been offered.
func (a *Alarms) Evaluate(ctx context.Context, s Snapshot) ([]Alarm, error) {
	values := measurements(s)
	a.mu.Lock()
	var changes []Alarm
	for _, t := range a.cfg.thresholds() {
		v, ok := values[t.key]
		if t.th.Raise == 0 || !ok {
			continue
		}
		cur, on := a.active[t.key]
		switch {
		case !on && v >= t.th.Raise:
			cur = Alarm{Name: t.key, Active: true, Value: v, Threshold: t.th.Raise, Since: s.Time, At: s.Time,
				Message: fmt.Sprintf("%s at %.1f, at or above %g", t.key, v, t.th.Raise)}
			a.active[t.key] = cur
			changes = append(changes, cur)
		case on && v < t.th.Clear:
			delete(a.active, t.key)
			changes = append(changes, Alarm{Name: t.key, Active: false, Value: v, Threshold: t.th.Clear, Since: cur.Since, At: s.Time,
				Message: fmt.Sprintf("%s back to %.1f, below %g", t.key, v, t.th.Clear)})
		case on:
			cur.Value = v
			a.active[t.key] = cur
		}
	}
	active := a.activeLocked()
	a.mu.Unlock()

	var errs []error
	for _, c := range changes {
		if a.sink == nil {
			continue
		}
		if err := a.sink.AlarmChanged(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("report alarm %s: %w", c.Name, err))
		}
	}
	return active, errors.Join(errs...)
}

// Active returns the alarms currently raised, by name.
func (a *Alarms) Active() []Alarm {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.activeLocked()
}

func (a *Alarms) activeLocked() []Alarm {
	out := make([]Alarm, 0, len(a.active))
	for _, al := range a.active {
		out = append(out, al)
	}
	slices.SortFunc(out, func(x, y Alarm) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// measurements picks the values thresholds apply to; a part the sampler
// could not read is absent, so it neither raises nor clears an alarm.
func measurements(s Snapshot) map[string]float64 {
	m := map[string]float64{}
	if s.CPU.Valid {
		m["cpu_percent"] = s.CPU.Percent
	}
	if s.Memory.Total > 0 {
		m["memory_percent"] = s.Memory.UsedPercent
	}
	if s.Load.CPUs > 0 {
		m["load1_per_cpu"] = s.Load.Load1 / float64(s.Load.CPUs)
	}
	if s.Vault.Total > 0 {
		m["disk_used_percent"] = s.Vault.UsedPercent
	}
	if len(s.Temperatures) > 0 {
		hottest := s.Temperatures[0].Celsius
		for _, t := range s.Temperatures[1:] {
			hottest = max(hottest, t.Celsius)
		}
		m["temperature_c"] = hottest
	}
	return m
}
