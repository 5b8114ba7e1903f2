package redact

import (
	"image"
	"slices"

	"gocv.io/x/gocv"
)

// findPlateRegions looks for what a plate looks like at any size, since the
// Russian-plate cascades miss small and foreign plates: a compact rectangle
// of plate proportions whose inside is dense with vertical strokes
// (characters) on a contrasting background.
//
// The steps: a horizontal Sobel picks character strokes; Otsu keeps the
// strongest; a wide, short closing joins the strokes of one plate into one
// blob; blobs are kept by aspect ratio, size and how well they fill their box,
// then by contrast inside the box.
func findPlateRegions(grey gocv.Mat) []Detection {
	gx := gocv.NewMat()
	defer gx.Close()
	gocv.Sobel(grey, &gx, gocv.MatTypeCV16S, 1, 0, 3, 1, 0, gocv.BorderDefault)
	abs := gocv.NewMat()
	defer abs.Close()
	gocv.ConvertScaleAbs(gx, &abs, 1, 0)
	bin := gocv.NewMat()
	defer bin.Close()
	gocv.Threshold(abs, &bin, 0, 255, gocv.ThresholdBinary|gocv.ThresholdOtsu)
	frameArea := grey.Rows() * grey.Cols()
	var out []Detection
	// Two closing widths: a narrow one joins the strokes of small plates
	// without gluing them to their surroundings, a wide one bridges the
	// gaps between character groups of large plates.
	for _, kw := range []int{7, 15} {
		out = append(out, plateBlobs(grey, bin, kw, frameArea)...)
	}
	return out
}

func plateBlobs(grey, bin gocv.Mat, kernelW, frameArea int) []Detection {
	closed := gocv.NewMat()
	defer closed.Close()
	k := gocv.GetStructuringElement(gocv.MorphRect, image.Pt(kernelW, 3))
	defer k.Close()
	gocv.MorphologyEx(bin, &closed, gocv.MorphClose, k)
	k2 := gocv.GetStructuringElement(gocv.MorphRect, image.Pt(3, 3))
	defer k2.Close()
	gocv.MorphologyEx(closed, &closed, gocv.MorphOpen, k2)

	contours := gocv.FindContours(closed, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer contours.Close()
	var out []Detection
	for i := 0; i < contours.Size(); i++ {
		c := contours.At(i)
		r := gocv.BoundingRect(c)
		if !plateShaped(r, frameArea) {
			continue
		}
		// A plate's blob often takes in a strip of bumper or grille above
		// it (fill 0.36-0.42 on the parking lot's cars); texture that
		// this lets through is then dropped by detectors.plates.
		fill := gocv.ContourArea(c) / float64(r.Dx()*r.Dy())
		if fill < 0.35 {
			continue
		}
		score, ok := plateContrast(grey, r)
		if !ok {
			continue
		}
		out = append(out, Detection{Box: r, Score: score, Detector: DetectorPlateRegion, Kind: KindPlate})
	}
	return out
}

// plateShaped accepts boxes 2 to 6 times wider than tall (EU plates are
// about 4.7:1, US 2:1, seen at an angle less), from 16x6 px up to a fifth
// of the frame.
func plateShaped(r image.Rectangle, frameArea int) bool {
	w, h := r.Dx(), r.Dy()
	if w < 16 || h < 6 {
		return false
	}
	aspect := float64(w) / float64(h)
	return aspect >= 2 && aspect <= 6.5 && w*h <= frameArea/20
}

// plateContrast wants dark characters on a light plate (or the reverse):
// a wide spread of grey levels inside the box. It returns a pseudo
// confidence that grows with that spread.
func plateContrast(grey gocv.Mat, r image.Rectangle) (float32, bool) {
	roi := grey.Region(r)
	defer roi.Close()
	mean := gocv.NewMat()
	defer mean.Close()
	std := gocv.NewMat()
	defer std.Close()
	gocv.MeanStdDev(roi, &mean, &std)
	sd := std.GetDoubleAt(0, 0)
	if sd < 35 {
		return 0, false
	}
	return float32(min(0.5+sd/200, 0.95)), true
}

// plateCharacters counts the blobs inside r of a character's shape: taller
// than wide (or as wide as two characters run together), 35-95% of the
// box's height, at most a third of its width, in one line with the others
// (see inLine). Dark characters on a light plate and light on dark are
// both tried.
func plateCharacters(grey gocv.Mat, r image.Rectangle) int {
	roi := grey.Region(r)
	defer roi.Close()
	bin := gocv.NewMat()
	defer bin.Close()
	best := 0
	for _, polarity := range []gocv.ThresholdType{gocv.ThresholdBinaryInv, gocv.ThresholdBinary} {
		gocv.Threshold(roi, &bin, 0, 255, polarity|gocv.ThresholdOtsu)
		best = max(best, characterBlobs(bin, r.Dx(), r.Dy()))
	}
	return best
}

func characterBlobs(bin gocv.Mat, w, h int) int {
	contours := gocv.FindContours(bin, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer contours.Close()
	var chars []image.Rectangle
	var weights []int
	for i := 0; i < contours.Size(); i++ {
		b := gocv.BoundingRect(contours.At(i))
		if b.Dy() < h*35/100 || b.Dy() > h*95/100 || b.Dx() > w/3 {
			continue
		}
		switch {
		case b.Dx() <= b.Dy():
			chars, weights = append(chars, b), append(weights, 1)
		case b.Dx() <= 2*b.Dy():
			// Two characters run together: at 5-6 px high (a plate
			// about 40 px wide) the blur between them is as dark as
			// they are.
			chars, weights = append(chars, b), append(weights, 2)
		}
	}
	return inLine(chars, weights)
}

// inLine counts the characters (by weight) that stand in one line with
// the others: about the median's height, their tops at about the median's.
// A plate's characters do; character-sized blobs of texture seldom do.
func inLine(chars []image.Rectangle, weights []int) int {
	if len(chars) == 0 {
		return 0
	}
	heights, tops := make([]int, len(chars)), make([]int, len(chars))
	for i, c := range chars {
		heights[i], tops[i] = c.Dy(), c.Min.Y
	}
	slices.Sort(heights)
	slices.Sort(tops)
	medH, medTop := heights[len(heights)/2], tops[len(tops)/2]
	tol := max(1, medH/4)
	n := 0
	for i, c := range chars {
		if abs(c.Dy()-medH) <= tol && abs(c.Min.Y-medTop) <= tol {
			n += weights[i]
		}
	}
	return n
}

func abs(x int) int { return max(x, -x) }
