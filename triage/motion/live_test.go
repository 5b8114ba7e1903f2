package motion

import (
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// TestLiveReportsOnsetWithinTwoSeconds plays the labelled room clip through
// Live as a camera would deliver it and checks that each entrance turns
// the signal on within 2 s, and that the empty room at the start does not.
func TestLiveReportsOnsetWithinTwoSeconds(t *testing.T) {
	vc, err := gocv.VideoCaptureFile(footage + "room-people-enter-leave.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	live, err := NewLive(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	wall := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	fps := vc.Get(gocv.VideoCaptureFPS)
	frame := gocv.NewMat()
	defer frame.Close()
	var onsets []float64
	was := false
	for i := 0; vc.Read(&frame); i++ {
		at := float64(i) / fps
		active := live.Feed(frame, wall.Add(time.Duration(at*float64(time.Second))))
		if active && !was {
			onsets = append(onsets, at)
		}
		was = active
	}
	t.Logf("onsets %v", onsets)
	for _, l := range loadLabels(t)["room-people-enter-leave.mp4"] {
		ok := false
		for _, o := range onsets {
			if o >= l.Enter-0.5 && o <= l.Enter+2 {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s entering at %.1f s: no onset within 2 s (onsets %v)", l.What, l.Enter, onsets)
		}
	}
	if len(onsets) > 0 && onsets[0] < 5 {
		t.Errorf("onset at %.1f s in the empty room", onsets[0])
	}
	if a := live.TakeAlerts(); len(a) != 0 {
		t.Errorf("tamper alerts on an untouched camera: %+v", a)
	}
}
