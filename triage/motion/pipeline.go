package motion

import (
	"context"

	"gocv.io/x/gocv"
)

// decodedFrame is one frame from the decoding goroutine. The Mat is
// borrowed: the consumer must not keep it after its callback returns.
type decodedFrame struct {
	m      gocv.Mat
	index  int
	posSec float64 // the capture's position after reading it
}

const pipelineDepth = 3

// eachFrame decodes vc on its own goroutine while fn analyses the frame
// before, so that decoding and analysis use both cores. It returns the
// number of frames read; fn sees them in order. When ctx ends, eachFrame
// stops early, always after the decoding goroutine has finished with vc.
func eachFrame(ctx context.Context, vc *gocv.VideoCapture, fn func(f decodedFrame)) int {
	free := make(chan gocv.Mat, pipelineDepth+1)
	for range pipelineDepth + 1 {
		free <- gocv.NewMat()
	}
	frames := make(chan decodedFrame, pipelineDepth)
	go func() {
		defer close(frames)
		for i := 0; ; i++ {
			m := <-free // waits while all Mats are queued or in use: back pressure
			if ctx.Err() != nil || !vc.Read(&m) || m.Empty() {
				free <- m
				return
			}
			frames <- decodedFrame{m: m, index: i, posSec: vc.Get(gocv.VideoCapturePosMsec) / 1000}
		}
	}()
	n := 0
	for f := range frames {
		if ctx.Err() == nil {
			fn(f)
			n++
		}
		free <- f.m
	}
	close(free)
	for m := range free {
		m.Close()
	}
	return n
}
