package motion

import (
	"context"
	"path/filepath"
	"testing"
)

// TestTamperAlerts makes tampered copies of the static room (ffmpeg filters
// applied from 8 s on) and expects the matching alert near 8 s, and none
// on the untouched copy or after a lighting change.
func TestTamperAlerts(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, filter string
		want         AlertKind
	}{
		{"untouched", "null", ""},
		{"covered", "drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='gte(t,8)'", AlertCovered},
		{"defocus", "boxblur=6:enable='gte(t,8)'", AlertDefocus},
		{"moved", "crop=w=iw*0.75:h=ih*0.75:x='if(gte(t,8),iw*0.25,0)':y='if(gte(t,8),ih*0.2,0)'", AlertMoved},
		{"lights", "eq=brightness=0.12:contrast=1.15:enable='gte(t,8)'", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".mp4")
			ffmpeg(t, "-stream_loop", "2", "-i", footage+"static-room.mp4", "-vf", c.filter,
				"-an", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", p)
			res, err := Analyze(context.Background(), p, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("alerts %+v events %s", res.Alerts, spans(res.Events))
			if c.want == "" {
				// A lighting change recalibrates the background: no alert, no event.
				if len(res.Alerts) != 0 || len(res.Events) != 0 {
					t.Fatalf("want no alerts or events, got %+v %s", res.Alerts, spans(res.Events))
				}
				return
			}
			for _, a := range res.Alerts {
				if a.Kind != c.want || a.At < 7.5 || a.At > 10 {
					t.Errorf("unexpected alert %+v", a)
				}
			}
			if len(res.Alerts) == 0 {
				t.Errorf("no %s alert", c.want)
			}
		})
	}
}
