package redact

import (
	"fmt"
	"math"
	"slices"
)

// QA is the reviewer's map of where the automatic redaction is unsure.
type QA struct {
	// NoneFound is true when no detector found anything in the whole
	// clip: either there is nobody in it, or the detectors failed, and a
	// person must say which.
	NoneFound bool   `json:"none_found"`
	Message   string `json:"message"`
	// Flags is every doubtful stretch, per track and reason: the raw
	// evidence Review is ranked from. It is kept in the log; the summary
	// carries only Review.
	Flags  []QAFlag `json:"flags,omitempty"`
	Review Review   `json:"review"`
}

// QA reasons.
const (
	QALowConfidence     = "low-confidence"     // a track was covered on weak detections
	QALongInterpolation = "long-interpolation" // a track was missed for long and bridged
	QAShortTrack        = "single-detection"   // found once only: a false positive or a face seen briefly
	QAIncomplete        = "incomplete-decode"  // the master stopped decoding early; the rest is not in the output
)

// QAFlag is one stretch of frames a reviewer should look at.
type QAFlag struct {
	Reason     string  `json:"reason"`
	Kind       Kind    `json:"kind"`
	Track      int     `json:"track"`
	StartFrame int     `json:"start_frame"`
	EndFrame   int     `json:"end_frame"` // inclusive
	Start      float64 `json:"start_s"`
	End        float64 `json:"end_s"`
	// MinConfidence is the lowest detector confidence in the stretch.
	MinConfidence float32 `json:"min_confidence"`
}

func buildQA(boxes [][]LogBox, fps float64, p *plan, cfg Config) QA {
	var qa QA
	if len(p.tracker.tracks) == 0 {
		qa.NoneFound = true
		qa.Message = "no faces or plates found; check the clip by eye"
		return qa
	}
	type key struct {
		track  int
		reason string
	}
	open := map[key]*QAFlag{}
	longGap := int(math.Ceil(cfg.QALongGapSeconds * fps))
	gapLen := interpolationLengths(p)
	flag := func(k key, f int, b LogBox) {
		if q := open[k]; q != nil && q.EndFrame >= f-1 {
			q.EndFrame = f
			q.MinConfidence = min(q.MinConfidence, b.Score)
			return
		}
		if q := open[k]; q != nil {
			qa.Flags = append(qa.Flags, *q)
		}
		open[k] = &QAFlag{Reason: k.reason, Kind: b.Kind, Track: k.track, StartFrame: f, EndFrame: f, MinConfidence: b.Score}
	}
	for f, fb := range boxes {
		for _, b := range fb {
			if b.Source != SourcePadded && b.Score < cfg.QALowScore {
				flag(key{b.Track, QALowConfidence}, f, b)
			}
			if b.Source == SourceInterpolated && gapLen[b.Track][f] > longGap {
				flag(key{b.Track, QALongInterpolation}, f, b)
			}
		}
	}
	for _, q := range open {
		qa.Flags = append(qa.Flags, *q)
	}
	for _, t := range p.tracker.tracks {
		if len(t.obs) == 1 {
			f := t.obs[0].frame
			qa.Flags = append(qa.Flags, QAFlag{Reason: QAShortTrack, Kind: t.obs[0].det.Kind, Track: t.id,
				StartFrame: f, EndFrame: f, MinConfidence: t.obs[0].det.Score})
		}
	}
	for i := range qa.Flags {
		qa.Flags[i].Start = round3(float64(qa.Flags[i].StartFrame) / fps)
		qa.Flags[i].End = round3(float64(qa.Flags[i].EndFrame+1) / fps)
	}
	slices.SortFunc(qa.Flags, func(a, b QAFlag) int {
		if a.StartFrame != b.StartFrame {
			return a.StartFrame - b.StartFrame
		}
		return a.Track - b.Track
	})
	qa.Message = "review the flagged stretches"
	if len(qa.Flags) == 0 {
		qa.Message = "nothing flagged"
	}
	return qa
}

// interpolationLengths gives, per track and frame, the length in frames of
// the bridged gap the frame lies in.
func interpolationLengths(p *plan) map[int]map[int]int {
	out := map[int]map[int]int{}
	for _, t := range p.tracker.tracks {
		m := map[int]int{}
		for i := 0; i+1 < len(t.obs); i++ {
			a, b := t.obs[i].frame, t.obs[i+1].frame
			if b-a > p.cad().interval(t.obs[0].det.Kind) {
				for f := a + 1; f < b; f++ {
					m[f] = b - a - 1
				}
			}
		}
		out[t.id] = m
	}
	return out
}

// addIncomplete flags the frames the container announced but the decoder
// never delivered.
func (qa *QA) addIncomplete(decoded, announced int, fps float64) {
	qa.Flags = append(qa.Flags, QAFlag{Reason: QAIncomplete, StartFrame: decoded, EndFrame: announced - 1,
		Start: round3(float64(decoded) / fps), End: round3(float64(announced) / fps)})
	qa.Message = fmt.Sprintf("the master decodes to %d of %d frames; %s", decoded, announced, qa.Message)
}
