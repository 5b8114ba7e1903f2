package motion

import (
	"math"
	"slices"
)

// Event is one stretch of motion. Times are seconds from the clip's start.
type Event struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	// Score is the peak share of the unmasked frame in motion (0..1).
	Score  float64 `json:"score"`
	PeakAt float64 `json:"peak_at"`
	// Zones touched by the event's motion, in configuration order.
	Zones []string `json:"zones,omitempty"`
	// Boxes samples the motion boxes over time, at most two per second.
	Boxes []BoxSample `json:"boxes,omitempty"`
	// Thumbnail is a JPEG of the peak frame. It is left out of JSON: the
	// daemon stores it as its own vault item, linked to the clip.
	Thumbnail []byte `json:"-"`
}

// Length returns the event's duration in seconds.
func (e Event) Length() float64 { return e.End - e.Start }

// BoxSample is the set of motion boxes seen at one moment.
type BoxSample struct {
	At    float64 `json:"at"`
	Boxes []Box   `json:"boxes"`
}

const (
	boxSampleEvery = 0.5
	maxBoxSamples  = 240
)

// segmenter turns per-frame motion into events: motion separated by less than
// the merge gap is one event, and events shorter than the minimum, or with
// no frame whose motion stood out from the picture's noise (FrameStats.Strong),
// are dropped.
type segmenter struct {
	minLen, gap float64
	open        *Event
	strong      bool // the open event has a Strong frame
	lastActive  float64
	done        []Event
	// onClose, if set, completes a kept event (e.g. with its thumbnail)
	// before a later frame can open the next one.
	onClose func(e *Event)
}

// add records the frame at t and reports whether it is the open event's new peak.
func (s *segmenter) add(t float64, st FrameStats) (peak bool) {
	active := len(st.Boxes) > 0
	if s.open != nil && t-s.lastActive > s.gap {
		s.close()
	}
	if !active {
		return false
	}
	if s.open == nil {
		s.open = &Event{Start: t, End: t}
		s.strong = false
	}
	e := s.open
	s.strong = s.strong || st.Strong
	s.lastActive = t
	e.End = t
	for _, z := range st.Zones {
		if !slices.Contains(e.Zones, z) {
			e.Zones = append(e.Zones, z)
		}
	}
	if n := len(e.Boxes); len(e.Boxes) < maxBoxSamples && (n == 0 || t-e.Boxes[n-1].At >= boxSampleEvery) {
		e.Boxes = append(e.Boxes, BoxSample{At: round3(t), Boxes: st.Boxes})
	}
	if st.Score > e.Score {
		e.Score = st.Score
		e.PeakAt = t
		return true
	}
	return false
}

// close ends the open event, keeping it if it is long enough.
func (s *segmenter) close() {
	e := s.open
	s.open = nil
	if e.End-e.Start < s.minLen || !s.strong {
		return
	}
	e.Start, e.End, e.Score, e.PeakAt = round3(e.Start), round3(e.End), round3(e.Score), round3(e.PeakAt)
	if s.onClose != nil {
		s.onClose(e)
	}
	s.done = append(s.done, *e)
}

// finish closes any open event and returns all events.
func (s *segmenter) finish() []Event {
	if s.open != nil {
		s.close()
	}
	return s.done
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
