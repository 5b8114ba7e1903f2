package redact

import (
	"cmp"
	"fmt"
	"image"
	"maps"
	"math"
	"slices"
	"strings"
)

// Review is the queue a disclosure officer works through before signing a
// redacted copy off: the stretches where the automatic redaction may have
// missed something (or covered something needlessly), merged per time,
// ranked by risk and capped to what a person can check. Every entry must be
// resolved (accepted, or fixed with a manual edit naming it) before
// sign-off; see Unresolved.
type Review struct {
	Entries []ReviewEntry `json:"entries"`
	// Dropped counts, per reason, the stretches that fell below the cap;
	// they stay in the log's QA flags.
	Dropped map[string]int `json:"dropped,omitempty"`
	// Cap is the most entries the clip's length allows.
	Cap     int    `json:"cap"`
	Message string `json:"message"`
}

// ReviewEntry is one stop of the reviewer on the timeline.
type ReviewEntry struct {
	// ID is stable across renders of the same master with the same
	// settings, so a resolution stored as an edit keeps its entry.
	ID    string  `json:"id"`
	Rank  int     `json:"rank"` // 1 is the riskiest
	Risk  float64 `json:"risk"`
	Start float64 `json:"start_s"`
	End   float64 `json:"end_s"`
	// Frame is the frame to show first, with Boxes on it.
	Frame  int           `json:"frame"`
	Time   float64       `json:"time_s"`
	Boxes  []ReviewBox   `json:"boxes"`
	Tracks []int         `json:"tracks"`
	Why    []ReviewCause `json:"why"`
}

// ReviewBox is a track's detected box on the entry's frame (or the last
// one before it).
type ReviewBox struct {
	Track int  `json:"track"`
	Kind  Kind `json:"kind"`
	Box   Box  `json:"box"`
}

// ReviewCause is one reason an entry is in the queue.
type ReviewCause struct {
	Reason string `json:"reason"`
	Track  int    `json:"track,omitempty"`
	Text   string `json:"text"`
}

// Review reasons, in falling order of base risk.
const (
	ReasonIncomplete   = "incomplete-decode"     // the end of the master is not in the output
	ReasonLostMidFrame = "lost-mid-frame"        // a track ends away from the frame's edge while the clip goes on
	ReasonGap          = "gap"                   // a track was missed for a while and bridged by interpolation
	ReasonNoFace       = "detector-disagreement" // a person whose head is large enough has no face detection
	ReasonFoundLate    = "found-mid-frame"       // a track starts away from the edge after the clip began
	ReasonSingle       = QAShortTrack            // found once only
	ReasonLowScore     = QALowConfidence         // covered on weak detections only: maybe needlessly
	ReasonNoneFound    = "none-found"            // nothing at all was found
)

var baseRisk = map[string]float64{
	ReasonIncomplete: 10, ReasonLostMidFrame: 5, ReasonGap: 4, ReasonNoFace: 3,
	ReasonFoundLate: 2.5, ReasonSingle: 1.5, ReasonLowScore: 1, ReasonNoneFound: 6,
}

// reviewOpts are the clip facts and settings the queue is built from.
type reviewOpts struct {
	fps      float64
	frames   int
	bounds   image.Rectangle
	cad      cadence
	lowScore float32 // faces and plates
	// personLowScore is lowScore for heads and people, whose detector
	// scores run lower (see Config.PersonMinScore).
	personLowScore float32
	perTen         int     // entries allowed per 10 minutes
	mergeGap       float64 // seconds between stretches merged into one entry
	maxSpan        float64 // seconds an entry may span
	minFaceSide    int     // a head this high (px) should show a face to the face detector
	announced      int     // frames the container announced, when more than decoded
}

// stretch is one piece of evidence before merging.
type stretch struct {
	reason     string
	track      int
	kind       Kind
	start, end int // frames, inclusive
	frame      int // frame to show
	box        image.Rectangle
	risk       float64
	text       string
}

func buildReview(tracks []*track, faceFrames map[int][]image.Rectangle, o reviewOpts) Review {
	var st []stretch
	if len(tracks) == 0 {
		st = append(st, stretch{reason: ReasonNoneFound, start: 0, end: max(0, o.frames-1), frame: o.frames / 2,
			risk: baseRisk[ReasonNoneFound], text: "no face, head or plate found in the whole clip: check by eye that nobody is in it"})
	}
	for _, t := range tracks {
		st = append(st, trackStretches(t, faceFrames, o)...)
	}
	if o.announced > o.frames {
		st = append(st, stretch{reason: ReasonIncomplete, start: max(0, o.frames-1), end: o.frames - 1, frame: max(0, o.frames-1),
			risk: baseRisk[ReasonIncomplete], text: fmt.Sprintf("the master decodes to %d of the %d frames it announces; the rest is not in the redacted copy", o.frames, o.announced)})
	}
	return rankAndCap(mergeStretches(st, o), st, o)
}

func (o reviewOpts) secs(f int) float64 { return float64(f) / o.fps }

func (o reviewOpts) lowScoreFor(k Kind) float32 {
	if isPerson(k) {
		return o.personLowScore
	}
	return o.lowScore
}

// trackStretches lists what is doubtful about one track.
func trackStretches(t *track, faceFrames map[int][]image.Rectangle, o reviewOpts) []stretch {
	first, last := t.obs[0], t.last()
	kind := first.det.Kind
	every, pad := o.cad.interval(kind), o.cad.padFor(kind)
	side := medianHeight(t)
	sizeWeight := math.Min(1, float64(side)/24) // tiny boxes are texture more often than faces
	var out []stretch
	add := func(reason string, a, b, frame int, box image.Rectangle, extra float64, text string) {
		out = append(out, stretch{reason: reason, track: t.id, kind: kind, start: a, end: b, frame: frame, box: box,
			risk: baseRisk[reason]*(0.5+0.5*sizeWeight) + extra, text: text})
	}
	for i := 0; i+1 < len(t.obs); i++ {
		a, b := t.obs[i], t.obs[i+1]
		if gap := b.frame - a.frame; gap > every {
			missed := gap/every - 1
			add(ReasonGap, a.frame, b.frame, (a.frame+b.frame)/2, lerpRect(a.det.Box, b.det.Box, 0.5), o.secs(gap),
				fmt.Sprintf("%s track %d (%d px) missed on %d detection frames for %.1f s; its box was interpolated", kind, t.id, side, missed, o.secs(gap)))
		}
	}
	established := len(t.obs) >= 3
	edge := max(8, o.bounds.Dy()/20)
	inner := o.bounds.Inset(edge)
	if established && last.frame+pad < o.frames-1 && last.det.Box.In(inner) {
		end := min(o.frames-1, last.frame+int(math.Ceil(o.fps)))
		add(ReasonLostMidFrame, last.frame, end, min(o.frames-1, last.frame+pad+1), last.det.Box, 0,
			fmt.Sprintf("%s track %d lost at %s, %.1f s in, away from the frame's edge; is it still there after %.1f s?",
				kind, t.id, boxText(last.det.Box), o.secs(last.frame), o.secs(last.frame+pad)))
	}
	if established && first.frame-pad > 0 && first.det.Box.In(inner) {
		add(ReasonFoundLate, max(0, first.frame-int(math.Ceil(o.fps))), first.frame, max(0, first.frame-pad-1), first.det.Box, 0,
			fmt.Sprintf("%s track %d first found at %s, %.1f s in, away from the frame's edge; was it there earlier?",
				kind, t.id, boxText(first.det.Box), o.secs(first.frame)))
	}
	if len(t.obs) == 1 {
		add(ReasonSingle, first.frame, first.frame, first.frame, first.det.Box, 0,
			fmt.Sprintf("%s found once only (%d px, confidence %.2f) at %.1f s: a brief glimpse, or a false box", kind, side, first.det.Score, o.secs(first.frame)))
	} else if best := maxScore(t); best < o.lowScoreFor(kind) {
		add(ReasonLowScore, first.frame, last.frame, first.frame, first.det.Box, 0,
			fmt.Sprintf("%s track %d covered on weak detections only (best %.2f): maybe needlessly", kind, t.id, best))
	}
	if kind == KindHead {
		if f, box, ok := headWithoutFace(t, faceFrames, o.minFaceSide); ok {
			add(ReasonNoFace, f, f, f, box, 0,
				fmt.Sprintf("person track %d: no face found in a head %d px high at %.1f s (covered from the person box; check it covers the face)", t.id, box.Dy(), o.secs(f)))
		}
	}
	return out
}

// headWithoutFace finds the first detection of a head track large enough
// for the face detector where no face box overlaps it.
func headWithoutFace(t *track, faceFrames map[int][]image.Rectangle, minSide int) (int, image.Rectangle, bool) {
	for _, ob := range t.obs {
		if ob.det.Box.Dy() < minSide {
			continue
		}
		found := false
		for _, f := range faceFrames[ob.frame] {
			if f.Overlaps(ob.det.Box) {
				found = true
				break
			}
		}
		if !found {
			return ob.frame, ob.det.Box, true
		}
	}
	return 0, image.Rectangle{}, false
}

func medianHeight(t *track) int {
	hs := make([]int, len(t.obs))
	for i, ob := range t.obs {
		hs[i] = ob.det.Box.Dy()
	}
	slices.Sort(hs)
	return hs[len(hs)/2]
}

func maxScore(t *track) float32 {
	var s float32
	for _, ob := range t.obs {
		s = max(s, ob.det.Score)
	}
	return s
}

func boxText(r image.Rectangle) string {
	return fmt.Sprintf("(%d,%d %dx%d)", r.Min.X, r.Min.Y, r.Dx(), r.Dy())
}

// mergeStretches joins stretches that overlap in time, or nearly, into one
// entry per stop of the reviewer, as long as the entry stays short enough to
// check in one look.
func mergeStretches(st []stretch, o reviewOpts) []ReviewEntry {
	slices.SortStableFunc(st, func(a, b stretch) int { return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.track, b.track)) })
	slack := int(math.Round(o.mergeGap * o.fps))
	maxSpan := int(math.Round(o.maxSpan * o.fps))
	var groups [][]stretch
	end, start := -1, 0
	for _, s := range st {
		if len(groups) > 0 && s.start <= end+slack && max(end, s.end)-start <= maxSpan {
			groups[len(groups)-1] = append(groups[len(groups)-1], s)
			end = max(end, s.end)
			continue
		}
		groups = append(groups, []stretch{s})
		start, end = s.start, s.end
	}
	entries := make([]ReviewEntry, 0, len(groups))
	for _, g := range groups {
		entries = append(entries, entryOf(g, o))
	}
	return entries
}

func entryOf(g []stretch, o reviewOpts) ReviewEntry {
	top := g[0]
	a, b := g[0].start, g[0].end
	risk := 0.0
	seen := map[int]bool{}
	var e ReviewEntry
	for _, s := range g {
		if s.risk > top.risk {
			top = s
		}
		a, b = min(a, s.start), max(b, s.end)
		risk = max(risk, s.risk)
		e.Why = append(e.Why, ReviewCause{Reason: s.reason, Track: s.track, Text: s.text})
		if s.track != 0 && !seen[s.track] {
			seen[s.track] = true
			e.Tracks = append(e.Tracks, s.track)
			e.Boxes = append(e.Boxes, ReviewBox{Track: s.track, Kind: s.kind, Box: BoxOf(s.box)})
		}
	}
	// Several doubts at one stop make it riskier, but never outrank a
	// single much worse one.
	e.Risk = round3(risk + 0.25*float64(len(g)-1))
	e.Start, e.End = round3(o.secs(a)), round3(o.secs(b+1))
	e.Frame, e.Time = top.frame, round3(o.secs(top.frame))
	e.ID = fmt.Sprintf("f%d-%s-t%d", top.frame, top.reason, top.track)
	return e
}

func rankAndCap(entries []ReviewEntry, st []stretch, o reviewOpts) Review {
	minutes := float64(o.frames) / o.fps / 60
	r := Review{Cap: o.perTen * max(1, int(math.Ceil(minutes/10)))}
	slices.SortStableFunc(entries, func(a, b ReviewEntry) int { return cmp.Or(cmp.Compare(b.Risk, a.Risk), cmp.Compare(a.Start, b.Start)) })
	if len(entries) > r.Cap {
		r.Dropped = map[string]int{}
		for _, e := range entries[r.Cap:] {
			for _, w := range e.Why {
				r.Dropped[w.Reason]++
			}
		}
		entries = entries[:r.Cap]
	}
	for i := range entries {
		entries[i].Rank = i + 1
	}
	r.Entries = entries
	switch {
	case len(entries) == 0:
		r.Message = "nothing to review: every track was found throughout and left the frame at its edge"
	case len(r.Dropped) > 0:
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Dropped)) {
			parts = append(parts, fmt.Sprintf("%d %s", r.Dropped[k], k))
		}
		r.Message = fmt.Sprintf("%d stops ranked by risk; %d lower-risk stops not queued (%s)", len(entries), len(st)-countCauses(entries), strings.Join(parts, ", "))
	default:
		r.Message = fmt.Sprintf("%d stops ranked by risk", len(entries))
	}
	return r
}

func countCauses(entries []ReviewEntry) int {
	n := 0
	for _, e := range entries {
		n += len(e.Why)
	}
	return n
}

// Unresolved lists the entries of the queue that no edit resolves: an
// accept edit, or an add, remove or full-frame edit, naming the entry.
// Sign-off must wait until it is empty.
func (r Review) Unresolved(edits []ManualEdit) []string {
	done := map[string]bool{}
	for _, e := range edits {
		if e.Entry != "" {
			done[e.Entry] = true
		}
	}
	var out []string
	for _, e := range r.Entries {
		if !done[e.ID] {
			out = append(out, e.ID)
		}
	}
	return out
}
