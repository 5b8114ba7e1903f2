package appliance

import (
	"context"
	"time"

	"github.com/edgetriage/edgetriage/sync/outbox"
)

// The dashboard panels read the daemon's parts through these adapters,
// which put each part's status into the fields the dashboard draws (the
// part's own fields ride along for the API).

type dockPanel struct{ d *Daemon }

type dockBayView struct {
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

func (p dockPanel) DockStatus() any {
	snap := p.d.dock.Progress()
	out := make([]dockBayView, 0, len(snap.Bays))
	for _, b := range snap.Bays {
		v := dockBayView{Bay: b.Bay, State: b.State, Camera: b.Device.Serial, Model: b.Device.Model, Officer: b.Device.Officer,
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

type cameraPanel struct{ d *Daemon }

type cameraView struct {
	Name        string    `json:"name"`
	State       string    `json:"state"`
	LastSegment string    `json:"last_segment,omitempty"`
	LastFrame   time.Time `json:"last_frame,omitzero"`
	FPS         float64   `json:"fps"`
	Bitrate     float64   `json:"bitrate_bps"`
	Gaps        []gapView `json:"gaps"`
	Error       string    `json:"error,omitempty"`
}

type gapView struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"`
	Reason string    `json:"reason"`
}

func (p cameraPanel) CameraStatus() any {
	sts := p.d.CameraStatus()
	out := make([]cameraView, 0, len(sts))
	for _, s := range sts {
		v := cameraView{Name: s.Camera, State: s.State, LastSegment: s.LastSegment, LastFrame: s.LastFrame,
			FPS: s.FPS, Bitrate: s.BitrateBPS, Error: s.LastError, Gaps: []gapView{}}
		for _, g := range s.Gaps24h {
			v.Gaps = append(v.Gaps, gapView{Start: g.Start, End: g.End, Reason: g.Reason})
		}
		out = append(out, v)
	}
	return out
}

type syncPanel struct{ d *Daemon }

type syncView struct {
	Target     string          `json:"target"`
	Pending    int             `json:"pending"`
	InFlight   int             `json:"in_flight"`
	Rate       float64         `json:"rate_bytes_per_s"`
	LastError  string          `json:"last_error,omitempty"`
	ErrorClass string          `json:"last_error_class,omitempty"`
	WindowOpen bool            `json:"window_open"`
	Counts     map[string]int  `json:"counts"`
	Queue      []syncQueueView `json:"queue"`
}

type syncQueueView struct {
	Item       string `json:"item"`
	State      string `json:"state"`
	BytesDone  int64  `json:"bytes_done"`
	BytesTotal int64  `json:"bytes_total"`
	Error      string `json:"error,omitempty"`
}

func (p syncPanel) SyncStatus() any {
	st, err := p.d.outbox.Status(context.Background())
	if err != nil {
		return syncView{LastError: err.Error()}
	}
	v := syncView{Target: st.Target, Rate: st.BytesPerSecond, LastError: st.LastError, ErrorClass: string(st.LastErrorClass),
		WindowOpen: st.WindowOpen, Counts: map[string]int{}, Queue: []syncQueueView{}}
	for state, n := range st.Counts {
		v.Counts[string(state)] = n
	}
	for _, e := range st.Items {
		switch e.State {
		case outbox.StateQueued, outbox.StateUploading, outbox.StateUploaded:
			v.Pending++
			q := syncQueueView{Item: e.Digest.String(), State: string(e.State), BytesTotal: e.Size, Error: e.LastError}
			if st.Current != nil && st.Current.Digest == e.Digest {
				v.InFlight++
				q.BytesDone = st.Current.Sent
			}
			v.Queue = append(v.Queue, q)
		}
	}
	return v
}

type healthPanel struct{ d *Daemon }

type alarmView struct {
	Severity string    `json:"severity"`
	Message  string    `json:"message"`
	Since    time.Time `json:"since"`
}

func (p healthPanel) Alarms() any {
	out := []alarmView{}
	for _, a := range p.d.health.Alarms() {
		out = append(out, alarmView{Severity: "warning", Message: a.Message, Since: a.Since})
	}
	if reason := p.d.vault.IntakeStopped(); reason != "" {
		out = append(out, alarmView{Severity: "critical", Message: "intake stopped: " + reason})
	}
	return out
}
