package dock

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// Real clips: the camera's recorded start and length come out as ffprobe
// reports them; a clip without a creation time and a cut-off or foreign
// file give nothing rather than a wrong time.
func TestRecordingTimesFromRealClips(t *testing.T) {
	for name, want := range map[string]struct {
		start time.Time
		dur   time.Duration
		ok    bool
	}{
		"parking-cars.mp4":            {time.Date(2018, 4, 19, 22, 46, 0, 0, time.UTC), 30208 * time.Millisecond, true},
		"room-people-enter-leave.mp4": {time.Date(2017, 9, 26, 16, 57, 49, 0, time.UTC), 139400 * time.Millisecond, true},
		"faces-walking.mp4":           {ok: false},
		"tree-nuisance.avi":           {ok: false},
	} {
		raw, err := os.ReadFile("../../testdata/footage/" + name)
		if err != nil {
			t.Fatal(err)
		}
		start, dur, ok := recordingTimes(bytes.NewReader(raw), int64(len(raw)))
		if ok != want.ok || !start.Equal(want.start) || (dur-want.dur).Abs() > 50*time.Millisecond {
			t.Errorf("%s: %v %v %v, want %v %v %v", name, start, dur, ok, want.start, want.dur, want.ok)
		}
		// Cut off before the movie header: nothing, no panic.
		if _, _, ok := recordingTimes(bytes.NewReader(raw[:20]), 20); ok {
			t.Errorf("%s cut to 20 bytes gave a time", name)
		}
	}
}
