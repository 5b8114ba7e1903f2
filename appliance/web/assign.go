package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// Keep these two in step with capture/dock's LabelUnidentified and the
// label the dock writes the model under; web does not import the dock.
const (
	labelUnidentified = "unidentified"
	labelCamera       = "camera"
)

// assignment is who an unidentified device's footage belongs to.
type assignment struct {
	Officer string `json:"officer"`
	Camera  string `json:"camera"`
}

func (a assignment) check() error {
	if strings.TrimSpace(a.Officer) == "" {
		return errors.New("officer is required")
	}
	for name, v := range map[string]string{"officer": a.Officer, "camera": a.Camera} {
		if !utf8.ValidString(v) || len(v) > 128 || strings.ContainsAny(v, "\x00\r\n") {
			return fmt.Errorf("%s must be one line of at most 128 bytes of text", name)
		}
	}
	return nil
}

// assignDevice gives the officer (and camera name) to every item offloaded
// from an unidentified device (POST /api/v1/devices/{source}/assign): the
// dock stored them under the identity the device's USB serial, volume UUID
// or bay gave, with nobody named. Each item's change is a record-changed
// custody event naming who assigned it and what the record said before;
// a second assignment corrects the first the same way.
func (s *Server) assignDevice(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	source := r.PathValue("source")
	var req assignment
	if err := json.NewDecoder(io.LimitReader(r.Body, 8192)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "assign: body must be JSON {officer, camera}: "+err.Error())
		return
	}
	if err := req.check(); err != nil {
		writeError(w, http.StatusBadRequest, "assign: "+err.Error())
		return
	}
	targets, err := s.deviceItems(source)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if len(targets) == 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no items of an unidentified device %q", source))
		return
	}
	assigned := make([]evidence.Item, 0, len(targets))
	for _, d := range targets {
		it, err := s.deps.Vault.UpdateItem(r.Context(), d, assignChange(p.Actor(), source, req))
		if err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("assign %s: %v (%d of %d items assigned)", d.Short(), err, len(assigned), len(targets)))
			return
		}
		assigned = append(assigned, it)
	}
	writeJSON(w, http.StatusOK, map[string]any{"device": source, "assigned": assigned})
}

// deviceItems lists the items an unidentified device gave, and what was
// derived from them (redacted copies, thumbnails), which carry its footage
// too and so its officer.
func (s *Server) deviceItems(source string) ([]evidence.Digest, error) {
	type child struct{ digest, parent evidence.Digest }
	var derived []child
	ofDevice := map[evidence.Digest]bool{}
	var targets []evidence.Digest
	err := s.deps.Vault.Items(func(it evidence.Item) bool {
		switch {
		case it.Source == source && it.Labels[labelUnidentified] != "":
			ofDevice[it.Digest] = true
			targets = append(targets, it.Digest)
		case !it.Parent.IsZero():
			derived = append(derived, child{it.Digest, it.Parent})
		}
		return true
	})
	if err != nil || len(targets) == 0 {
		return nil, err
	}
	for grew := true; grew; {
		grew = false
		for _, it := range derived {
			if ofDevice[it.parent] && !ofDevice[it.digest] {
				ofDevice[it.digest] = true
				targets = append(targets, it.digest)
				grew = true
			}
		}
	}
	return targets, nil
}

func assignChange(actor evidence.Actor, source string, a assignment) vault.Change {
	details := map[string]string{"change": "device-assigned", "device": source, "officer": a.Officer}
	if a.Camera != "" {
		details["camera"] = a.Camera
	}
	return vault.Change{Actor: actor, Action: evidence.ActionRecordChanged, Details: details,
		// Apply runs before the event is written, so what the record said
		// before goes into the event's details.
		Apply: func(it *evidence.Item) error {
			details["previous_officer"] = it.Officer
			if prev := it.Labels[labelCamera]; prev != "" {
				details["previous_camera"] = prev
			}
			it.Officer = a.Officer
			if a.Camera != "" {
				if it.Labels == nil {
					it.Labels = map[string]string{}
				}
				it.Labels[labelCamera] = a.Camera
			}
			return nil
		}}
}
