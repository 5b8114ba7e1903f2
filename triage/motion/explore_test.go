package motion

import (
	"context"
	"os"
	"testing"
)

func TestExplore(t *testing.T) {
	f := os.Getenv("EXPLORE")
	if f == "" {
		return
	}
	cfg := DefaultConfig()
	cfg.Prefilter = os.Getenv("PF") != ""
	res, err := Analyze(context.Background(), f, cfg)
	t.Logf("err=%v dur=%.1f frames=%d decoded=%d", err, res.Duration, res.Frames, res.Decoded)
	for _, e := range res.Events {
		t.Logf("event %.2f-%.2f score %.3f peak %.2f thumb %d", e.Start, e.End, e.Score, e.PeakAt, len(e.Thumbnail))
	}
	if res.Prefilter != nil {
		t.Logf("prefilter %+v", *res.Prefilter)
	}
	for _, a := range res.Alerts {
		t.Logf("alert %+v", a)
	}
}
