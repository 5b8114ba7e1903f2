// Package status holds the typed view models of the dashboard's status
// panels (dock bays, cameras, sync queue, alarms): the JSON contract
// between the web part, which serves them, and the daemon's parts, whose
// own status fills them. The functions here do that filling, so the web
// part and its tests speak the same types the daemon produces.
package status

import (
	"time"

	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/hardware"
	"github.com/edgetriage/edgetriage/sync/outbox"
)

// Snapshot is what the dashboard's status panels show; a nil part is not
// configured on this appliance.
type Snapshot struct {
	Time time.Time `json:"time"`
	// KeyFingerprint names the appliance's signing key, so an admin can
	// compare it with the one written down at first start.
	KeyFingerprint string    `json:"key_fingerprint"`
	Dock           []DockBay `json:"dock"`
	Cameras        []Camera  `json:"cameras"`
	Sync           *Sync     `json:"sync"`
	Alarms         []Alarm   `json:"alarms"`
}

// DockBay is one dock bay and the camera in it. State is one of the dock's
// bay states (dock.BayEmpty, dock.BayOffloading, dock.BayDone, ...).
type DockBay struct {
	Bay        string  `json:"bay"`
	State      string  `json:"state"`
	Camera     string  `json:"camera"`
	Model      string  `json:"model,omitempty"`
	Officer    string  `json:"officer,omitempty"`
	BytesDone  int64   `json:"bytes_done"`
	BytesTotal int64   `json:"bytes_total"`
	FilesDone  int     `json:"files_done"`
	FilesTotal int     `json:"files_total"`
	Rate       float64 `json:"rate_bytes_per_s"`
	ETA        float64 `json:"eta_s"`
	Error      string  `json:"error,omitempty"`
}

// DockBays is the dock's progress as the dashboard shows it.
func DockBays(snap dock.Snapshot) []DockBay {
	out := make([]DockBay, 0, len(snap.Bays))
	for _, b := range snap.Bays {
		v := DockBay{Bay: b.Bay, State: b.State, Camera: b.Device.Serial, Model: b.Device.Model, Officer: b.Device.Officer,
			BytesDone: b.Bytes, BytesTotal: b.Total, FilesTotal: len(b.Files), Rate: b.Rate, ETA: b.ETA, Error: b.Message}
		for _, f := range b.Files {
			if f.Bytes >= f.Total && f.Total > 0 {
				v.FilesDone++
			}
		}
		out = append(out, v)
	}
	return out
}

// Camera is one RTSP camera. State is one of the recorder's states.
type Camera struct {
	Name        string `json:"name"`
	State       string `json:"state"`
	LastSegment string `json:"last_segment,omitempty"`
	// LastSegmentAt is when the last segment was sealed: what staff read
	// to see that a camera is being recorded.
	LastSegmentAt time.Time `json:"last_segment_at,omitzero"`
	LastFrame     time.Time `json:"last_frame,omitzero"`
	FPS           float64   `json:"fps"`
	Bitrate       float64   `json:"bitrate_bps"`
	Gaps          []Gap     `json:"gaps"`
	Error         string    `json:"error,omitempty"`
}

// Gap is a stretch in the last 24 hours the camera was not recorded.
type Gap struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"`
	Reason string    `json:"reason"`
}

// Cameras is the recorders' status as the dashboard shows it.
func Cameras(sts []rtsp.Status) []Camera {
	out := make([]Camera, 0, len(sts))
	for _, s := range sts {
		v := Camera{Name: s.Camera, State: s.State, LastSegment: s.LastSegment, LastSegmentAt: s.LastSegmentAt, LastFrame: s.LastFrame,
			FPS: s.FPS, Bitrate: s.BitrateBPS, Error: s.LastError, Gaps: []Gap{}}
		for _, g := range s.Gaps24h {
			v.Gaps = append(v.Gaps, Gap{Start: g.Start, End: g.End, Reason: g.Reason})
		}
		out = append(out, v)
	}
	return out
}

// Sync is the outbox: what waits to go to central storage.
type Sync struct {
	Target     string         `json:"target"`
	Pending    int            `json:"pending"`
	InFlight   int            `json:"in_flight"`
	Rate       float64        `json:"rate_bytes_per_s"`
	LastError  string         `json:"last_error,omitempty"`
	ErrorClass string         `json:"last_error_class,omitempty"`
	WindowOpen bool           `json:"window_open"`
	Counts     map[string]int `json:"counts"`
	Queue      []SyncEntry    `json:"queue"`
}

// SyncEntry is one item waiting in the outbox. State is an outbox state.
type SyncEntry struct {
	Item       string `json:"item"`
	State      string `json:"state"`
	BytesDone  int64  `json:"bytes_done"`
	BytesTotal int64  `json:"bytes_total"`
	Error      string `json:"error,omitempty"`
}

// SyncOf is the outbox's status as the dashboard shows it; err is the
// failure to read it, shown in its place.
func SyncOf(st outbox.Status, err error) *Sync {
	if err != nil {
		return &Sync{LastError: err.Error()}
	}
	v := &Sync{Target: st.Target, Rate: st.BytesPerSecond, LastError: st.LastError, ErrorClass: string(st.LastErrorClass),
		WindowOpen: st.WindowOpen, Counts: map[string]int{}, Queue: []SyncEntry{}}
	for state, n := range st.Counts {
		v.Counts[string(state)] = n
	}
	for _, e := range st.Items {
		switch e.State {
		case outbox.StateQueued, outbox.StateUploading, outbox.StateUploaded:
			v.Pending++
			q := SyncEntry{Item: e.Digest.String(), State: string(e.State), BytesTotal: e.Size, Error: e.LastError}
			if st.Current != nil && st.Current.Digest == e.Digest {
				v.InFlight++
				q.BytesDone = st.Current.Sent
			}
			v.Queue = append(v.Queue, q)
		}
	}
	return v
}

// Alarm is a raised alarm.
type Alarm struct {
	Severity string    `json:"severity"`
	Message  string    `json:"message"`
	Since    time.Time `json:"since,omitzero"`
}

// Severities of an Alarm.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Alarms are the health alarms, and intake stopped (intakeStopped is its
// reason, empty while intake runs) as a critical one.
func Alarms(health []hardware.Alarm, intakeStopped string) []Alarm {
	out := []Alarm{}
	for _, a := range health {
		out = append(out, Alarm{Severity: SeverityWarning, Message: a.Message, Since: a.Since})
	}
	if intakeStopped != "" {
		out = append(out, Alarm{Severity: SeverityCritical, Message: "intake stopped: " + intakeStopped})
	}
	return out
}
