package redact

import (
	"errors"
	"fmt"
	"image"
	"slices"

	"gocv.io/x/gocv"
)

// detectors runs every enabled detector on one (reduced) frame.
type detectors struct {
	face    *blazeFace
	persons *nanoDet // nil under PeopleFaces without plates
	mode    string   // Config.People
	// vehicles are the vehicles of the person detector's latest run, and
	// vehiclesFresh whether that run was on the frame in hand.
	vehicles      []image.Rectangle
	vehiclesFresh bool
	// offVehicle are the plate-region candidates of the previous
	// detection frame that lay on no vehicle: texture, mostly, which
	// stays where it is. Only a candidate not among them makes the
	// vehicle detector run out of turn.
	offVehicle []image.Rectangle
	// vehicleAge counts the detection frames since the vehicle detector
	// last ran; see minVehicleAge.
	vehicleAge    int
	personMaxSide int
	faceMaxSide   int
	faceSmall     gocv.Mat
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
	d := &detectors{face: face, mode: cfg.People, personMaxSide: cfg.PersonMaxSide, faceMaxSide: cfg.FaceMaxSide,
		faceSmall: gocv.NewMat(), grey: gocv.NewMat(), flipped: gocv.NewMat(), half: gocv.NewMat()}
	if cfg.People != PeopleFaces || !cfg.NoPlates {
		if d.persons, err = newNanoDet(cfg.PersonMinScore, !cfg.NoPlates); err != nil {
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
	d.faceSmall.Close()
	d.flipped.Close()
	d.half.Close()
	return nil
}

// Detect returns faces and plates found in bgr, merged per kind.
//
// persons says whether the person detector runs on this frame.
func (d *detectors) Detect(bgr gocv.Mat, persons bool) ([]Detection, error) {
	// The face detector shares nothing with the others but the frame,
	// which all only read: running it beside them keeps both cores busy
	// (each network alone spreads a small tile over two threads poorly).
	type result struct {
		faces []Detection
		err   error
	}
	faced := make(chan result, 1)
	go func() {
		f, err := d.faces(bgr)
		faced <- result{f, err}
	}()
	profiles, others, err := d.others(bgr, persons)
	fr := <-faced
	if err := errors.Join(fr.err, err); err != nil {
		return nil, err
	}
	return append(nms(append(fr.faces, profiles...), 0.3), others...), nil
}

// others runs every detector but the face network: the profile cascade
// (whose faces are returned apart, to be merged with the network's), the
// person detector when persons says so, and the plate detectors.
func (d *detectors) others(bgr gocv.Mat, persons bool) (profiles, out []Detection, err error) {
	gocv.CvtColor(bgr, &d.grey, gocv.ColorBGRToGray)
	if d.profile != nil {
		profiles = d.profiles()
	}
	d.vehiclesFresh = false
	d.vehicleAge++
	if d.persons != nil && persons {
		people, err := d.people(bgr)
		if err != nil {
			return nil, nil, err
		}
		if d.mode != PeopleFaces {
			out = append(out, people...)
		}
	}
	if d.plate != nil {
		plates, err := d.plates(bgr)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, plates...)
	}
	return profiles, out, nil
}

// reset forgets what the previous clip showed: its vehicles must not
// vouch for plate candidates of the next.
func (d *detectors) reset() {
	d.vehicles, d.vehiclesFresh, d.offVehicle = d.vehicles[:0], false, d.offVehicle[:0]
	d.vehicleAge = minVehicleAge
}

// faceScale is the factor the face detector shrinks a w x h frame by.
func faceScale(w, h, maxSide int) float64 {
	return min(1, float64(maxSide)/float64(max(w, h)))
}

// faces runs the face detector on bgr shrunk to faceMaxSide and returns
// its boxes in bgr's coordinates.
func (d *detectors) faces(bgr gocv.Mat) ([]Detection, error) {
	scale := faceScale(bgr.Cols(), bgr.Rows(), d.faceMaxSide)
	src := bgr
	if scale < 1 {
		gocv.Resize(bgr, &d.faceSmall, image.Point{}, scale, scale, gocv.InterpolationArea)
		src = d.faceSmall
	}
	faces, err := d.face.Detect(src)
	if err != nil {
		return nil, err
	}
	for i := range faces {
		faces[i].Box = mapRect(faces[i].Box, scale)
	}
	return faces, nil
}

// plates returns the plate candidates of both plate detectors, less the
// plate-region detector's candidates that neither show characters nor lie
// on a vehicle: that detector fires on texture too (a tree's branches,
// shelves of packets, a door's edge). The Haar cascade, which did not fire
// on texture here, is kept as it is. Vehicles are found at the person
// detector's cadence; a new candidate that needs one makes it run on this
// frame, so a car that just drove in does not wait for the next run.
// Texture found off any vehicle on the previous detection frame does not:
// it fired the detector on almost every frame of a shop or a park.
func (d *detectors) plates(bgr gocv.Mat) ([]Detection, error) {
	var cands []Detection
	for _, r := range d.plate.DetectMultiScaleWithParams(d.grey, 1.1, 3, 0, image.Pt(24, 8), image.Pt(0, 0)) {
		cands = append(cands, Detection{Box: r, Score: 0.6, Detector: DetectorHaarPlate, Kind: KindPlate})
	}
	var doubtful []Detection
	for _, c := range findPlateRegions(d.grey) {
		if plateCharacters(d.grey, c.Box) >= minPlateCharacters {
			cands = append(cands, c)
		} else {
			doubtful = append(doubtful, c)
		}
	}
	if !d.vehiclesFresh && d.vehicleAge >= minVehicleAge && slices.ContainsFunc(doubtful, d.needsVehicles) {
		if _, err := d.people(bgr); err != nil {
			return nil, err
		}
	}
	d.offVehicle = d.offVehicle[:0]
	for _, c := range doubtful {
		if onVehicle(c.Box, d.vehicles) {
			cands = append(cands, c)
		} else {
			d.offVehicle = append(d.offVehicle, c.Box)
		}
	}
	return nms(cands, 0.3), nil
}

// minVehicleAge is how many detection frames old the vehicles must be
// before a candidate makes the vehicle detector run out of turn: people
// walking through a shop make new candidates on every frame, and the run
// doubled the person detector's cost there. A plate that waits for a run
// is found one detection frame later, and padding covers the frames before.
const minVehicleAge = 2

// sameTextureIoU is how closely a candidate must match one of the previous
// detection frame's to count as the same (still) thing.
const sameTextureIoU = 0.5

// needsVehicles says whether candidate c is on no vehicle known and is new
// since the previous detection frame.
func (d *detectors) needsVehicles(c Detection) bool {
	if onVehicle(c.Box, d.vehicles) {
		return false
	}
	return !slices.ContainsFunc(d.offVehicle, func(r image.Rectangle) bool { return iou(r, c.Box) >= sameTextureIoU })
}

// minPlateCharacters is how many character-shaped blobs make a candidate a
// plate without a vehicle under it. Legible plates show 7-8 here; texture
// candidates 0 or 1, with one of 16 at 7.
const minPlateCharacters = 3

// onVehicle says whether plate lies (mostly) inside one of the vehicle
// boxes, each grown by a tenth on every side: the detector's boxes are
// tight, and a parked car's box may be a second old.
func onVehicle(plate image.Rectangle, vehicles []image.Rectangle) bool {
	for _, v := range vehicles {
		grown := v.Inset(-max(v.Dx(), v.Dy()) / 10)
		if containedFraction(plate, grown) >= 0.8 {
			return true
		}
	}
	return false
}

// people finds people and returns what of them is covered: their heads,
// or all of them. The vehicles of the same run replace d.vehicles.
func (d *detectors) people(bgr gocv.Mat) ([]Detection, error) {
	all, err := d.persons.Detect(bgr, d.personMaxSide)
	if err != nil {
		return nil, err
	}
	d.vehicles, d.vehiclesFresh, d.vehicleAge = d.vehicles[:0], true, 0
	found := slices.DeleteFunc(all, func(p Detection) bool {
		if p.Kind == KindVehicle {
			d.vehicles = append(d.vehicles, p.Box)
			return true
		}
		return false
	})
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
