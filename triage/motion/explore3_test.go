package motion

import (
	"context"
	"os"
	"testing"
)

func TestExplorePF(t *testing.T) {
	f := os.Getenv("EXPLORE3")
	if f == "" {
		return
	}
	tr, err := readAVCTrack(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	gops, err := splitGOPs(tr, 10)
	if err != nil {
		t.Fatal(err)
	}
	fh, _ := os.Open(f)
	a, _ := newAnalyzer(f, cfg)
	p := &prefilter{ctx: context.Background(), cfg: cfg, f: fh, tr: tr, gops: gops, a: a, rep: &PrefilterReport{}}
	sus := p.sizeSuspects()
	var idx []int
	for _, g := range gops {
		idx = append(idx, g.first)
	}
	kfs, err := p.decodeKeyframes(idx)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range gops {
		ch := i+1 < len(kfs) && p.keyframesDiffer(kfs[i], kfs[i+1])
		t.Logf("gop %3d t %6.2f dur %.2f n %d prate %8.0f p3 %6.0f sus %v changed %v", i, g.start, g.dur, g.end-g.first, g.pRate, g.p3, sus[i], ch)
	}
}
