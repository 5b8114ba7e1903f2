package redact

import (
	"image"
	"slices"
	"unsafe"
)

// Box is a rectangle in frame pixels, origin top-left, as it appears in the
// redaction log and in manual edits.
type Box struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Rect converts b to an image.Rectangle.
func (b Box) Rect() image.Rectangle { return image.Rect(b.X, b.Y, b.X+b.W, b.Y+b.H) }

// BoxOf converts r to a Box.
func BoxOf(r image.Rectangle) Box { return Box{X: r.Min.X, Y: r.Min.Y, W: r.Dx(), H: r.Dy()} }

func iou(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	i := float64(in.Dx() * in.Dy())
	u := float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - i
	return i / u
}

// nms keeps the highest-scoring box of every group overlapping above thresh.
// A box mostly inside a kept one also goes: overlapping tiles see the same
// face cut in half and report the half as a small box.
func nms(dets []Detection, thresh float64) []Detection {
	slices.SortFunc(dets, func(a, b Detection) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	var keep []Detection
next:
	for _, d := range dets {
		for _, k := range keep {
			if iou(d.Box, k.Box) > thresh || containedFraction(d.Box, k.Box) > 0.7 {
				continue next
			}
		}
		keep = append(keep, d)
	}
	return keep
}

// nmsPerKind is nms within each kind: a person standing in front of a car
// keeps both boxes.
func nmsPerKind(dets []Detection, thresh float64) []Detection {
	byKind := map[Kind][]Detection{}
	var kinds []Kind
	for _, d := range dets {
		if _, seen := byKind[d.Kind]; !seen {
			kinds = append(kinds, d.Kind)
		}
		byKind[d.Kind] = append(byKind[d.Kind], d)
	}
	var out []Detection
	for _, k := range kinds {
		out = append(out, nms(byKind[k], thresh)...)
	}
	return out
}

// coverAreas is what is covered on a frame with boxes: each box, but boxes
// that overlap (a face inside its person's head box, two people side by
// side) are covered as one, their bounding rectangle. Covered one by one,
// the edge of one cover would cut through the other's area and leave a hard
// line across a face.
func coverAreas(boxes []LogBox) []image.Rectangle {
	var out []image.Rectangle
	for _, b := range boxes {
		out = append(out, b.Box.Rect())
	}
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(out) && !merged; i++ {
			for j := i + 1; j < len(out); j++ {
				if out[i].Overlaps(out[j]) {
					out[i] = out[i].Union(out[j])
					out = append(out[:j], out[j+1:]...)
					merged = true
					break
				}
			}
		}
	}
	return out
}

// containedFraction is how much of a lies inside b.
func containedFraction(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() || a.Empty() {
		return 0
	}
	return float64(in.Dx()*in.Dy()) / float64(a.Dx()*a.Dy())
}

// scaleRect grows r about its centre by factor f.
func scaleRect(r image.Rectangle, f float64) image.Rectangle {
	cx, cy := float64(r.Min.X+r.Max.X)/2, float64(r.Min.Y+r.Max.Y)/2
	hw, hh := float64(r.Dx())*f/2, float64(r.Dy())*f/2
	return image.Rect(int(cx-hw), int(cy-hh), int(cx+hw+0.999), int(cy+hh+0.999))
}

// mapRect maps r from a frame scaled by s back to the original frame.
func mapRect(r image.Rectangle, s float64) image.Rectangle {
	if s == 1 {
		return r
	}
	return image.Rect(int(float64(r.Min.X)/s), int(float64(r.Min.Y)/s), int(float64(r.Max.X)/s+0.999), int(float64(r.Max.Y)/s+0.999))
}

func float32Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*4)
}
