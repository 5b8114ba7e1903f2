package redact

import "image"

// Detector names the source of a box in the redaction log.
type Detector string

// Box sources.
const (
	DetectorBlazeFace   Detector = "blazeface"
	DetectorHaarProfile Detector = "haar-profileface"
	DetectorHaarPlate   Detector = "haar-plate"
	DetectorPlateRegion Detector = "plate-region"
	DetectorManual      Detector = "manual"
	DetectorNanoDet     Detector = "nanodet"
)

// Kind is what a box covers.
type Kind string

// Kinds of redacted object.
const (
	KindFace  Kind = "face"
	KindPlate Kind = "plate"
	KindArea  Kind = "area"
	// KindHead is the head of a person found by the person detector,
	// covered when the face is too small (or turned away) to be found.
	KindHead Kind = "head"
	// KindPerson is a whole person, covered under People: whole-person.
	KindPerson Kind = "person"
	// KindVehicle is a car, motorcycle, bus or truck: never covered, and
	// never in the log; plates are looked for on vehicles only.
	KindVehicle Kind = "vehicle"
)

// Detection is one box found on one frame by one detector.
type Detection struct {
	Box      image.Rectangle
	Score    float32
	Detector Detector
	Kind     Kind
}
