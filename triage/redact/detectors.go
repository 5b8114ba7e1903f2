package redact

import (
	"fmt"
	"image"

	"gocv.io/x/gocv"
)

// detectors runs every enabled detector on one (reduced) frame.
type detectors struct {
	face          *blazeFace
	persons       *nanoDet // nil under PeopleFaces
	mode          string   // Config.People
	personMaxSide int
	profile       *gocv.CascadeClassifier
	plate         *gocv.CascadeClassifier
	grey          gocv.Mat
	flipped       gocv.Mat
	half          gocv.Mat
}

func newDetectors(cfg Config) (*detectors, error) {
	face, err := newBlazeFace(cfg.MinFaceScore)
	if err != nil {
		return nil, err
	}
	d := &detectors{face: face, mode: cfg.People, personMaxSide: cfg.PersonMaxSide, grey: gocv.NewMat(), flipped: gocv.NewMat(), half: gocv.NewMat()}
	if cfg.People != PeopleFaces {
		if d.persons, err = newNanoDet(cfg.PersonMinScore); err != nil {
			d.Close()
			return nil, err
		}
	}
	if cfg.ProfileFaces {
		if d.profile, err = loadCascade(cfg.ProfileCascade); err != nil {
			d.Close()
			return nil, err
		}
	}
	if !cfg.NoPlates {
		if d.plate, err = loadCascade(cfg.PlateCascade); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

func loadCascade(path string) (*gocv.CascadeClassifier, error) {
	c := gocv.NewCascadeClassifier()
	if !c.Load(path) {
		c.Close()
		return nil, fmt.Errorf("load cascade %s: not a readable cascade file", path)
	}
	return &c, nil
}

func (d *detectors) Close() error {
	d.face.Close()
	if d.persons != nil {
		d.persons.Close()
	}
	if d.profile != nil {
		d.profile.Close()
	}
	if d.plate != nil {
		d.plate.Close()
	}
	d.grey.Close()
	d.flipped.Close()
	d.half.Close()
	return nil
}

// Detect returns faces and plates found in bgr, merged per kind.
//
// persons says whether the person detector runs on this frame.
func (d *detectors) Detect(bgr gocv.Mat, persons bool) ([]Detection, error) {
	faces, err := d.face.Detect(bgr)
	if err != nil {
		return nil, err
	}
	gocv.CvtColor(bgr, &d.grey, gocv.ColorBGRToGray)
	if d.profile != nil {
		faces = append(faces, d.profiles()...)
	}
	out := nms(faces, 0.3)
	if d.persons != nil && persons {
		people, err := d.people(bgr)
		if err != nil {
			return nil, err
		}
		out = append(out, people...)
	}
	if d.plate != nil {
		var plates []Detection
		for _, r := range d.plate.DetectMultiScaleWithParams(d.grey, 1.1, 3, 0, image.Pt(24, 8), image.Pt(0, 0)) {
			plates = append(plates, Detection{Box: r, Score: 0.6, Detector: DetectorHaarPlate, Kind: KindPlate})
		}
		plates = append(plates, findPlateRegions(d.grey)...)
		out = append(out, nms(plates, 0.3)...)
	}
	return out, nil
}

// people finds people and returns what of them is covered: their heads,
// or all of them.
func (d *detectors) people(bgr gocv.Mat) ([]Detection, error) {
	found, err := d.persons.Detect(bgr, d.personMaxSide)
	if err != nil {
		return nil, err
	}
	if d.mode == PeopleWhole {
		return found, nil
	}
	heads := make([]Detection, 0, len(found))
	for _, p := range found {
		p.Box, p.Kind = headOf(p.Box), KindHead
		heads = append(heads, p)
	}
	return nms(heads, 0.3), nil
}

// profiles runs the left-profile cascade on the frame and on its mirror
// image, since opencv-data ships only the one orientation. A Haar hit has no
// calibrated score; it gets a fixed one below BlazeFace's typical hits so
// that NMS prefers the network's box where both fire.
//
// The cascade is the slowest detector by far (half a second on a 960 px
// frame here), so it runs at half the detection resolution: it then finds
// profiles from about 30 px up, and BlazeFace covers smaller frontal faces.
func (d *detectors) profiles() []Detection {
	const minSide = 15
	scale := 0.5
	gocv.Resize(d.grey, &d.half, image.Point{}, scale, scale, gocv.InterpolationArea)
	var out []Detection
	add := func(r image.Rectangle) {
		out = append(out, Detection{Box: mapRect(r, scale), Score: 0.6, Detector: DetectorHaarProfile, Kind: KindFace})
	}
	for _, r := range d.profile.DetectMultiScaleWithParams(d.half, 1.15, 4, 0, image.Pt(minSide, minSide), image.Pt(0, 0)) {
		add(r)
	}
	gocv.Flip(d.half, &d.flipped, 1)
	w := d.half.Cols()
	for _, r := range d.profile.DetectMultiScaleWithParams(d.flipped, 1.15, 4, 0, image.Pt(minSide, minSide), image.Pt(0, 0)) {
		add(image.Rect(w-r.Max.X, r.Min.Y, w-r.Min.X, r.Max.Y))
	}
	return out
}
