package motion

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// FlagRules decide which items are flagged for central storage. Any rule
// that matches flags the item; an empty rule set flags nothing.
type FlagRules struct {
	// Zones flags an item with an event touching one of these zones; "*"
	// matches any zone.
	Zones []string `json:"zones,omitempty" yaml:"zones,omitempty"`
	// LongerThan flags an item with an event longer than this; 0 disables it.
	LongerThan Duration `json:"longer_than,omitempty" yaml:"longer_than,omitempty"`
	// Kinds flags every item of these kinds.
	Kinds []evidence.Kind `json:"kinds,omitempty" yaml:"kinds,omitempty"`
	// Sources flags every item whose Source matches one of these patterns
	// (path.Match syntax), e.g. "bwv-*" for all body-worn cameras.
	Sources []string `json:"sources,omitempty" yaml:"sources,omitempty"`
	// Labels flags items whose label has one of the listed values, e.g.
	// {"category": ["assault", "death-in-custody"]} for categories set by staff.
	Labels map[string][]string `json:"labels,omitempty" yaml:"labels,omitempty"`
}

// Validate checks the patterns so that a typo fails at load time, not silently.
func (r FlagRules) Validate() error {
	for i, p := range r.Sources {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("'sources[%d]' %q: %w", i, p, err)
		}
	}
	if r.LongerThan < 0 {
		return fmt.Errorf("'longer_than' must not be negative")
	}
	return nil
}

// Decision is the outcome of FlagRules.Decide. Reasons has one entry per
// matching rule, in rule order, each readable on its own; Names has the
// matching rules' short names in the same order ("zone door", "long
// event"), which the dashboard shows as flag chips and filters by.
type Decision struct {
	Flag    bool     `json:"flag"`
	Reasons []string `json:"reasons,omitempty"`
	Names   []string `json:"names,omitempty"`
}

// Reason joins the reasons for a custody event's details.
func (d Decision) Reason() string { return strings.Join(d.Reasons, "; ") }

// Details returns the custody event details for an evidence.ActionFlagged event.
func (d Decision) Details() map[string]string {
	return map[string]string{"reason": d.Reason()}
}

// Decide applies the rules to an item and its triage result (events may be
// empty for items that are not video). It is a pure function.
func (r FlagRules) Decide(it evidence.Item, events []Event) Decision {
	var d Decision
	add := func(name, format string, a ...any) {
		d.Names = append(d.Names, name)
		d.Reasons = append(d.Reasons, fmt.Sprintf(format, a...))
	}
	if slices.Contains(r.Kinds, it.Kind) {
		add("kind "+string(it.Kind), "all %s items are flagged", it.Kind)
	}
	for _, p := range r.Sources {
		if ok, _ := path.Match(p, it.Source); ok {
			add("source "+p, "source %q matches %q", it.Source, p)
			break
		}
	}
	for _, key := range sortedKeys(r.Labels) {
		if v, ok := it.Labels[key]; ok && slices.Contains(r.Labels[key], v) {
			add(key+" "+v, "%s is %q", key, v)
		}
	}
	if e, z, ok := r.zoneEvent(events); ok {
		add("zone "+z, "event %.1f-%.1f s touches zone %q", e.Start, e.End, z)
	}
	if lim := r.LongerThan.D().Seconds(); lim > 0 {
		for _, e := range events {
			if e.Length() > lim {
				add("long event", "event %.1f-%.1f s lasts %.1f s, longer than %s", e.Start, e.End, e.Length(), r.LongerThan.D())
				break
			}
		}
	}
	d.Flag = len(d.Reasons) > 0
	return d
}

func (r FlagRules) zoneEvent(events []Event) (Event, string, bool) {
	for _, e := range events {
		for _, z := range e.Zones {
			if slices.Contains(r.Zones, "*") || slices.Contains(r.Zones, z) {
				return e, z, true
			}
		}
	}
	return Event{}, "", false
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
