package motion

import (
	"os"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

func TestExploreRead(t *testing.T) {
	f := os.Getenv("EXPLORE4")
	if f == "" {
		return
	}
	vc, _ := gocv.VideoCaptureFileWithAPI(f, gocv.VideoCaptureFFmpeg)
	defer vc.Close()
	m := gocv.NewMat()
	start := time.Now()
	n := 0
	for ; n < 1500 && vc.Read(&m); n++ {
	}
	t.Logf("read %d frames in %s (%.2f ms/frame)", n, time.Since(start), float64(time.Since(start).Milliseconds())/float64(n))
	d, _ := NewDetector(DefaultConfig())
	start = time.Now()
	for i := 0; i < 300; i++ {
		d.Process(m, time.Duration(i)*100*time.Millisecond)
	}
	t.Logf("process: %.2f ms/frame", float64(time.Since(start).Microseconds())/300/1000)
}
