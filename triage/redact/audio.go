package redact

import (
	"fmt"
	"slices"
	"strings"
)

// Span is a stretch of time in seconds from the master's first video frame,
// [Start, End).
type Span struct {
	Start float64 `json:"start_s"`
	End   float64 `json:"end_s"`
}

// bleepHz and bleepLevel make the tone a bleep edit puts in place of the
// audio: loud enough to be noticed, well below full scale.
const (
	bleepHz    = 1000
	bleepLevel = 0.25
)

// audioEdits picks the mute and bleep edits, in time order.
func audioEdits(edits []ManualEdit) (mute, bleep []Span) {
	for _, e := range edits {
		switch e.Op {
		case EditMute:
			mute = append(mute, Span{e.Start, e.End})
		case EditBleep:
			bleep = append(bleep, Span{e.Start, e.End})
		}
	}
	byStart := func(a, b Span) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	}
	slices.SortFunc(mute, byStart)
	slices.SortFunc(bleep, byStart)
	return mute, bleep
}

// audioFilter is the ffmpeg filter that silences the mute spans and puts a
// tone over the bleep spans, sample-exact, leaving every other sample as
// it was. offset is where the audio stream starts relative to the first
// video frame (edit times are video times). Empty when nothing is edited.
//
// One aeval does it: its expression sees each sample's time t and value,
// so no stream is mixed or resampled, and what lies outside the spans
// passes through unchanged (the copy's audio is re-encoded once, as it
// must be when any of it changes).
func audioFilter(mute, bleep []Span, offset float64) string {
	if len(mute)+len(bleep) == 0 {
		return ""
	}
	in := func(spans []Span) string {
		if len(spans) == 0 {
			return "0"
		}
		var terms []string
		for _, s := range spans {
			// [start, end): the sample at end belongs to what follows.
			terms = append(terms, fmt.Sprintf("gte(t,%.6f)*lt(t,%.6f)", s.Start-offset, s.End-offset))
		}
		return strings.Join(terms, "+")
	}
	expr := fmt.Sprintf("if(%s,0,if(%s,%g*sin(2*PI*%d*t),val(ch)))", in(mute), in(bleep), bleepLevel, bleepHz)
	// aeval takes one expression per channel, separated by '|'; with one,
	// it serves every channel. The quotes keep the filter-graph parser off
	// the commas inside.
	return "aeval=exprs='" + expr + "':channel_layout=same"
}
