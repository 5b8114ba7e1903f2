package appliance

import (
	"slices"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/capture/rtsp"
)

// A reload restarts as little as it can: a change of the motion setup
// restarts a recording camera's live analysis alone (no recording gap),
// but a motion-only camera whole (its analysis decides what it keeps);
// turning triage off stops the live analysis of recording cameras.
func TestReloadRestartsOnlyWhatChanged(t *testing.T) {
	cams := []rtsp.Config{
		{ID: "yard", URL: "rtsp://yard/main", Mode: rtsp.ModeContinuous},
		{ID: "door", URL: "rtsp://door/main", Mode: rtsp.ModeMotion},
		{ID: "gate", URL: "rtsp://gate/main", Mode: rtsp.ModeContinuous},
	}
	base := pipeline.DefaultTriage()
	fainter := pipeline.DefaultTriage()
	fainter.Motion.Sensitivity = 0.9
	off := pipeline.DefaultTriage()
	off.Enabled = false
	moved := slices.Clone(cams)
	moved[2].URL = "rtsp://gate/other"

	for _, c := range []struct {
		name                string
		next                []rtsp.Config
		triage              pipeline.TriageConfig
		changed, reanalysed []string
	}{
		{"nothing", cams, base, nil, nil},
		{"sensitivity", cams, fainter, []string{"door"}, []string{"yard", "gate"}},
		{"triage off", cams, off, nil, []string{"yard", "gate"}},
		{"gate's url", moved, base, []string{"gate"}, nil},
	} {
		p := planCameras(cams, c.next, base, c.triage)
		if !slices.Equal(p.changed, c.changed) || !slices.Equal(p.reanalysed, c.reanalysed) || len(p.added)+len(p.removed) != 0 {
			t.Errorf("%s: restarted whole %v, live analysis only %v; want %v and %v", c.name, p.changed, p.reanalysed, c.changed, c.reanalysed)
		}
		if p.empty() != (c.changed == nil && c.reanalysed == nil) {
			t.Errorf("%s: plan empty=%v", c.name, p.empty())
		}
	}
}
