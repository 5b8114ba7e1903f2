package redact

import (
	"image"
	"math"
	"slices"
)

// Source says how a box of the log came about.
type Source string

// Box sources in the redaction log.
const (
	SourceDetected     Source = "detected"     // a detector fired on this frame
	SourceTracked      Source = "tracked"      // between two detection frames of a track, nothing missed
	SourceInterpolated Source = "interpolated" // across detection frames on which the track was missed
	SourcePadded       Source = "padded"       // held before a track's first or after its last detection
	SourceManual       Source = "manual"       // added by an investigator
	SourceFullFrame    Source = "full-frame"   // the whole frame, by an investigator
)

type observation struct {
	frame int
	det   Detection
}

type track struct {
	id  int
	obs []observation
}

func (t *track) last() observation { return t.obs[len(t.obs)-1] }

// tracker associates detections on successive detection frames by overlap.
// Boxes are compared grown to twice their size, so a small face that moved
// more than its own width between detection frames still matches.
type tracker struct {
	maxGap       int // frames, faces and plates
	personMaxGap int // frames, heads and people (detected less often)
	tracks       []*track
	nextID       int
}

// cadence is how often each kind of object is looked for, and how long a
// box is held before a track's first and after its last detection.
type cadence struct {
	every, personEvery int // frames between detections
	pad, personPad     int // frames
}

func isPerson(k Kind) bool { return k == KindHead || k == KindPerson }

// interval is the frames between two detections of an object of kind k.
func (c cadence) interval(k Kind) int {
	if isPerson(k) {
		return c.personEvery
	}
	return c.every
}

func (c cadence) padFor(k Kind) int {
	if isPerson(k) {
		return c.personPad
	}
	return c.pad
}

func (tr *tracker) gapFor(k Kind) int {
	if isPerson(k) {
		return tr.personMaxGap
	}
	return tr.maxGap
}

const associateIoU = 0.1

// personEnlarge grows head and person boxes before covering.
const personEnlarge = 1.25

// Add feeds the detections of one detection frame.
func (tr *tracker) Add(frame int, dets []Detection) {
	type pair struct {
		t     *track
		d     int
		score float64
	}
	var pairs []pair
	for _, t := range tr.tracks {
		l := t.last()
		if frame-l.frame > tr.gapFor(l.det.Kind) || l.frame == frame {
			continue
		}
		for i, d := range dets {
			if d.Kind != l.det.Kind {
				continue
			}
			if s := iou(scaleRect(l.det.Box, 2), scaleRect(d.Box, 2)); s >= associateIoU {
				pairs = append(pairs, pair{t, i, s})
			}
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	usedT := map[*track]bool{}
	usedD := map[int]bool{}
	for _, p := range pairs {
		if usedT[p.t] || usedD[p.d] {
			continue
		}
		usedT[p.t], usedD[p.d] = true, true
		p.t.obs = append(p.t.obs, observation{frame, dets[p.d]})
	}
	for i, d := range dets {
		if !usedD[i] {
			tr.nextID++
			tr.tracks = append(tr.tracks, &track{id: tr.nextID, obs: []observation{{frame, d}}})
		}
	}
}

// LogBox is one covered rectangle on one frame, as written to the log.
type LogBox struct {
	Box      Box      `json:"box"` // the covered area, after enlargement
	Detected *Box     `json:"detected,omitempty"`
	Kind     Kind     `json:"kind"`
	Detector Detector `json:"detector"`
	Score    float32  `json:"confidence"`
	Source   Source   `json:"source"`
	Track    int      `json:"track,omitempty"`
	Edit     int      `json:"edit,omitempty"` // 1-based index into the manual edits
}

// expandOpts turns tracks into per-frame boxes for frames [lo, hi).
type expandOpts struct {
	lo, hi       int
	cad          cadence
	faceEnlarge  float64
	plateEnlarge float64
	bounds       image.Rectangle
}

// expand emits a box for every frame a track covers: detected frames as
// found, frames between two observations linearly interpolated, and pad
// frames before and after holding the end boxes. Held and interpolated
// boxes are grown a little more, since the object moves under them.
func (tr *tracker) expand(o expandOpts, emit func(frame int, b LogBox)) {
	for _, t := range tr.tracks {
		enlarge := o.faceEnlarge
		switch t.obs[0].det.Kind {
		case KindPlate:
			enlarge = o.plateEnlarge
		case KindHead, KindPerson:
			// Their boxes are generous already (see headOf).
			enlarge = personEnlarge
		}
		first, last := t.obs[0], t.last()
		pad, every := o.cad.padFor(first.det.Kind), o.cad.interval(first.det.Kind)
		if last.frame+pad < o.lo || first.frame-pad >= o.hi {
			continue
		}
		put := func(frame int, r image.Rectangle, d Detection, src Source, extra float64) {
			if frame < o.lo || frame >= o.hi {
				return
			}
			cover := coverRect(d.Kind, r, enlarge*extra).Intersect(o.bounds)
			if cover.Empty() {
				return
			}
			lb := LogBox{Box: BoxOf(cover), Kind: d.Kind, Detector: d.Detector, Score: d.Score, Source: src, Track: t.id}
			if src == SourceDetected {
				db := BoxOf(r)
				lb.Detected = &db
			}
			emit(frame, lb)
		}
		// Padding carries a moving box along its track's motion, so a face
		// walking out of the last detection stays under its cover.
		vIn, vOut := t.velocity(0), t.velocity(len(t.obs)-2)
		for f := first.frame - pad; f < first.frame; f++ {
			put(f, shiftRect(first.det.Box, vIn, f-first.frame), first.det, SourcePadded, 1.2)
		}
		for i, ob := range t.obs {
			put(ob.frame, ob.det.Box, ob.det, SourceDetected, 1)
			if i+1 == len(t.obs) {
				break
			}
			next := t.obs[i+1]
			if next.frame <= o.lo || ob.frame >= o.hi {
				continue
			}
			src := SourceTracked
			if next.frame-ob.frame > every {
				src = SourceInterpolated
			}
			d := ob.det
			d.Score = min(ob.det.Score, next.det.Score)
			for f := ob.frame + 1; f < next.frame; f++ {
				a := float64(f-ob.frame) / float64(next.frame-ob.frame)
				put(f, lerpRect(ob.det.Box, next.det.Box, a), d, src, 1.1)
			}
		}
		for f := last.frame + 1; f <= last.frame+pad; f++ {
			put(f, shiftRect(last.det.Box, vOut, f-last.frame), last.det, SourcePadded, 1.2)
		}
	}
}

func lerpRect(a, b image.Rectangle, t float64) image.Rectangle {
	l := func(x, y int) int { return int(float64(x) + (float64(y)-float64(x))*t + 0.5) }
	return image.Rect(l(a.Min.X, b.Min.X), l(a.Min.Y, b.Min.Y), l(a.Max.X, b.Max.X), l(a.Max.Y, b.Max.Y))
}

// coverRect is the area covered for a detected box: grown by enlarge about
// its centre, and for faces stretched further up by a quarter of the height.
// BlazeFace boxes sit low on small faces (brows to below the chin, and on
// faces-walking up to half a box low), so forehead and hair need the room.
func coverRect(k Kind, r image.Rectangle, enlarge float64) image.Rectangle {
	c := scaleRect(r, enlarge)
	if k == KindFace {
		c.Min.Y -= r.Dy() / 4
	}
	return c
}

// velocity is the motion of the box centre in pixels per frame between
// observations i and i+1; zero for a track seen once.
func (t *track) velocity(i int) [2]float64 {
	if i < 0 || i+1 >= len(t.obs) {
		return [2]float64{}
	}
	a, b := t.obs[i], t.obs[i+1]
	df := float64(b.frame - a.frame)
	ca, cb := centre(a.det.Box), centre(b.det.Box)
	return [2]float64{(cb[0] - ca[0]) / df, (cb[1] - ca[1]) / df}
}

func centre(r image.Rectangle) [2]float64 {
	return [2]float64{float64(r.Min.X+r.Max.X) / 2, float64(r.Min.Y+r.Max.Y) / 2}
}

// shiftRect moves r by v per frame over n frames (n may be negative).
func shiftRect(r image.Rectangle, v [2]float64, n int) image.Rectangle {
	return r.Add(image.Pt(int(math.Round(v[0]*float64(n))), int(math.Round(v[1]*float64(n)))))
}
