package motion

import (
	"os"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

func TestExploreFrames(t *testing.T) {
	f := os.Getenv("EXPLORE2")
	if f == "" {
		return
	}
	vc, _ := gocv.VideoCaptureFile(f)
	defer vc.Close()
	d, _ := NewDetector(DefaultConfig())
	m := gocv.NewMat()
	for i := 0; vc.Read(&m); i++ {
		ts := vc.Get(gocv.VideoCapturePosMsec) / 1000
		st := d.Process(m, time.Duration(ts*1e9))
		t.Logf("%6.2f sc %.4f nb %d rc %v sim %.2f luma %.0f con %.1f sh %.0f %v", ts, st.Score, len(st.Boxes), st.Recalibrated, st.Similarity, st.Luma, st.Contrast, st.Sharpness, st.Boxes)
	}
}
