package motion

import (
	"fmt"
	"math"
)

// AlertKind names a camera tamper condition.
type AlertKind string

// Tamper alert kinds.
const (
	AlertCovered AlertKind = "covered" // lens covered or blinded: dark or uniform frame
	AlertDefocus AlertKind = "defocus" // sharpness fell far below the camera's baseline
	AlertMoved   AlertKind = "moved"   // the camera now sees a different scene
)

// Alert is one tamper alert; At is seconds from the clip's (or feed's) start.
type Alert struct {
	At     float64   `json:"at"`
	Kind   AlertKind `json:"kind"`
	Detail string    `json:"detail"`
}

const (
	tamperHold     = 1.5  // a condition must last this long to alert
	baselineTau    = 20.0 // baselines follow slow scene changes only
	coveredLuma    = 18.0 // mean luma below this is a covered or dark lens
	coveredFlat    = 0.25 // contrast below this share of baseline is a blinded lens
	defocusShare   = 0.30 // sharpness below this share of baseline is defocus
	movedMaxCorr   = 0.40 // a recalibration this unlike the old scene is a move
	movedDebounce  = 5.0  // seconds between two move alerts
	baselineWarmUp = 1.0
)

// tamper watches frame statistics for covered, defocused and moved cameras.
type tamper struct {
	start                 float64
	started               bool
	baseContrast, baseSh  float64
	coverSince, blurSince float64 // -1 while the condition is absent
	coverOn, blurOn       bool
	lastMoved             float64
}

func newTamper() *tamper {
	return &tamper{coverSince: -1, blurSince: -1, lastMoved: math.Inf(-1)}
}

func (tp *tamper) update(at, dt float64, st FrameStats) []Alert {
	if !tp.started {
		tp.started, tp.start = true, at
		tp.baseContrast, tp.baseSh = st.Contrast, st.Sharpness
		return nil
	}
	covered := st.Luma < coveredLuma || st.Contrast < coveredFlat*tp.baseContrast
	blurred := !covered && st.Sharpness < defocusShare*tp.baseSh
	var out []Alert
	if a, ok := hold(&tp.coverSince, &tp.coverOn, covered, at); ok {
		out = append(out, Alert{At: round3(a), Kind: AlertCovered,
			Detail: fmt.Sprintf("mean luma %.0f, contrast %.1f (baseline %.1f)", st.Luma, st.Contrast, tp.baseContrast)})
	}
	if a, ok := hold(&tp.blurSince, &tp.blurOn, blurred, at); ok {
		out = append(out, Alert{At: round3(a), Kind: AlertDefocus,
			Detail: fmt.Sprintf("sharpness %.0f, baseline %.0f", st.Sharpness, tp.baseSh)})
	}
	if st.Recalibrated && !covered && st.Similarity < movedMaxCorr && at-tp.lastMoved > movedDebounce {
		tp.lastMoved = at
		out = append(out, Alert{At: round3(at), Kind: AlertMoved,
			Detail: fmt.Sprintf("scene correlation with previous background %.2f", st.Similarity)})
	}
	if !covered && !blurred {
		k := rate(dt, baselineTau)
		if at-tp.start < baselineWarmUp {
			k = math.Max(k, 0.2)
		}
		tp.baseContrast += k * (st.Contrast - tp.baseContrast)
		tp.baseSh += k * (st.Sharpness - tp.baseSh)
	}
	return out
}

// hold reports the onset time once a condition has lasted tamperHold, and
// re-arms when it clears.
func hold(since *float64, on *bool, cond bool, at float64) (float64, bool) {
	if !cond {
		*since, *on = -1, false
		return 0, false
	}
	if *since < 0 {
		*since = at
	}
	if !*on && at-*since >= tamperHold {
		*on = true
		return *since, true
	}
	return 0, false
}

// Details returns the custody event details for an evidence.ActionTamperAlert event.
func (a Alert) Details() map[string]string {
	return map[string]string{"kind": string(a.Kind), "at": fmt.Sprintf("%.3f", a.At), "detail": a.Detail}
}
