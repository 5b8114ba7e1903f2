package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
)

// EditOp is what a manual edit does.
type EditOp string

// Manual edit operations.
const (
	// EditAdd covers Box from Start to End whatever the detectors found.
	EditAdd EditOp = "add"
	// EditRemove drops automatic boxes whose centre lies inside Box from
	// Start to End (a detector's false positive over a sign, say). It never
	// removes a manual box.
	EditRemove EditOp = "remove"
	// EditFullFrame covers the whole frame from Start to End.
	EditFullFrame EditOp = "full-frame"
	// EditAccept records that a reviewer checked review entry Entry and
	// found the automatic redaction right; it changes no pixel.
	EditAccept EditOp = "accept"
	// EditMute silences the audio from Start to End.
	EditMute EditOp = "mute"
	// EditBleep replaces the audio from Start to End with a 1 kHz tone,
	// so a listener hears that something was taken out.
	EditBleep EditOp = "bleep"
)

// ManualEdit is an investigator's change to the automatic redaction over a
// time range of the master, [Start, End) in seconds from its first frame.
// Edits are data: store them next to the master and render again when they
// change.
type ManualEdit struct {
	Op    EditOp  `json:"op"`
	Start float64 `json:"start_s"`
	End   float64 `json:"end_s"`
	Box   *Box    `json:"box,omitempty"` // add and remove only
	// Entry names the review entry (ReviewEntry.ID) this edit resolves;
	// required for accept.
	Entry  string `json:"entry,omitempty"`
	Author string `json:"author,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Validate reports what is wrong with one edit.
func (e ManualEdit) Validate() error {
	var errs []error
	switch e.Op {
	case EditAdd, EditRemove:
		if e.Box == nil || e.Box.W <= 0 || e.Box.H <= 0 {
			errs = append(errs, fmt.Errorf("'box' with positive w and h is required for op %q", e.Op))
		}
	case EditFullFrame, EditMute, EditBleep:
		if e.Box != nil {
			errs = append(errs, fmt.Errorf("'box' must be empty for op %q", e.Op))
		}
	case EditAccept:
		if e.Entry == "" {
			errs = append(errs, fmt.Errorf("'entry' (the review entry's id) is required for op %q", e.Op))
		}
		if e.Box != nil {
			errs = append(errs, fmt.Errorf("'box' must be empty for op %q", e.Op))
		}
	default:
		errs = append(errs, fmt.Errorf("'op' must be one of add, remove, full-frame, accept, mute, bleep, got %q", e.Op))
	}
	if len(e.Entry) > 128 {
		errs = append(errs, fmt.Errorf("'entry' is longer than 128 bytes"))
	}
	if e.Start < 0 || e.End <= e.Start {
		errs = append(errs, fmt.Errorf("'start_s' (%v) must be >= 0 and before 'end_s' (%v)", e.Start, e.End))
	}
	return errors.Join(errs...)
}

// ParseEdits reads a JSON array of edits strictly: unknown keys are errors.
func ParseEdits(b []byte) ([]ManualEdit, error) {
	var edits []ManualEdit
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&edits); err != nil {
		return nil, fmt.Errorf("parse manual edits: %w", err)
	}
	if err := validateEdits(edits); err != nil {
		return nil, err
	}
	return edits, nil
}

func validateEdits(edits []ManualEdit) error {
	var errs []error
	for i, e := range edits {
		if err := e.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("manual edit %d: %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}

func (e ManualEdit) activeAt(t float64) bool { return t >= e.Start && t < e.End }

// applyEdits changes the automatic boxes of one frame at time t.
func applyEdits(edits []ManualEdit, t float64, bounds image.Rectangle, boxes []LogBox) []LogBox {
	for i, e := range edits {
		if !e.activeAt(t) {
			continue
		}
		switch e.Op {
		case EditRemove:
			r := e.Box.Rect()
			kept := boxes[:0]
			for _, b := range boxes {
				c := b.Box.Rect()
				centre := image.Pt((c.Min.X+c.Max.X)/2, (c.Min.Y+c.Max.Y)/2)
				if b.Source != SourceManual && b.Source != SourceFullFrame && centre.In(r) {
					continue
				}
				kept = append(kept, b)
			}
			boxes = kept
		case EditAdd:
			r := e.Box.Rect().Intersect(bounds)
			if !r.Empty() {
				boxes = append(boxes, LogBox{Box: BoxOf(r), Kind: KindArea, Detector: DetectorManual, Score: 1, Source: SourceManual, Edit: i + 1})
			}
		case EditFullFrame:
			boxes = append(boxes, LogBox{Box: BoxOf(bounds), Kind: KindArea, Detector: DetectorManual, Score: 1, Source: SourceFullFrame, Edit: i + 1})
		}
	}
	return boxes
}
