package motion

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// recall is the share of full-decode events that the prefiltered analysis
// also found: overlapping, starting at most 1 s after it.
func recall(full, pre []Event) (float64, []Event) {
	var missed []Event
	for _, e := range full {
		found := false
		for _, p := range pre {
			// Found: the prefilter reports motion overlapping the event and
			// starting no more than a second after it. Starting earlier is
			// not a loss: after a skipped stretch the background is relearnt
			// from a keyframe, which can widen an event, never hide it.
			if p.Start <= e.End && p.End >= e.Start && p.Start <= e.Start+1 {
				found = true
			}
		}
		if !found {
			missed = append(missed, e)
		}
	}
	if len(full) == 0 {
		return 1, nil
	}
	return 1 - float64(len(missed))/float64(len(full)), missed
}

func analyzeBoth(t *testing.T, path string) (full, pre Result) {
	t.Helper()
	cfg := DefaultConfig()
	full, err := Analyze(context.Background(), path, cfg)
	if err != nil {
		t.Fatalf("full decode %s: %v", path, err)
	}
	cfg.Prefilter = true
	pre, err = Analyze(context.Background(), path, cfg)
	if err != nil {
		t.Fatalf("prefilter %s: %v", path, err)
	}
	return full, pre
}

// TestPrefilterNeverLosesAnEvent runs every H.264 clip, and re-encodes with
// three kinds of rate control and B-frames, through full decoding and
// through the prefilter, and requires every full-decode event to be found.
func TestPrefilterNeverLosesAnEvent(t *testing.T) {
	dir := t.TempDir()
	type clip struct{ name, path string }
	var clips []clip
	for _, n := range []string{"room-people-enter-leave.mp4", "parking-cars.mp4", "faces-walking.mp4", "store-aisle.mp4", "static-room.mp4"} {
		clips = append(clips, clip{n, footage + n})
	}
	rc := map[string][]string{
		"crf": {"-crf", "28"},
		"cbr": {"-b:v", "400k", "-minrate", "400k", "-maxrate", "400k", "-bufsize", "400k", "-x264-params", "nal-hrd=cbr"},
		"cqp": {"-qp", "30"},
	}
	srcs := map[string][]string{
		// The first minute of the room: three people in and out.
		"room":    {"-t", "60", "-i", footage + "room-people-enter-leave.mp4"},
		"parking": {"-i", footage + "parking-cars.mp4"},
		"tree":    {"-i", footage + "tree-nuisance.avi"},
	}
	for sn, src := range srcs {
		for rn, r := range rc {
			p := filepath.Join(dir, fmt.Sprintf("%s-%s.mp4", sn, rn))
			args := append(append([]string{}, src...), "-an", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25")
			if rn != "cbr" {
				// B-frames, so presentation order differs from decode order.
				args = append(args, "-preset", "veryfast", "-bf", "2")
			}
			ffmpeg(t, append(append(args, r...), p)...)
			clips = append(clips, clip{sn + "-" + rn, p})
		}
	}
	// Fragmented MP4, as RTSP recording writes it.
	for _, sn := range []string{"room", "parking"} {
		p := filepath.Join(dir, sn+"-fmp4.mp4")
		ffmpeg(t, "-i", filepath.Join(dir, sn+"-crf.mp4"), "-c", "copy",
			"-movflags", "+frag_keyframe+empty_moov+default_base_moof", p)
		clips = append(clips, clip{sn + "-fmp4", p})
	}
	var skipped float64
	for _, c := range clips {
		full, pre := analyzeBoth(t, c.path)
		r, missed := recall(full.Events, pre.Events)
		rep := "full decode fallback"
		if pre.Prefilter != nil {
			rep = fmt.Sprintf("%d/%d GOPs decoded, %.1f s skipped", pre.Prefilter.DecodedGOPs, pre.Prefilter.GOPs, pre.Prefilter.SkippedSeconds)
			skipped += pre.Prefilter.SkippedSeconds
		}
		t.Logf("%-32s events full %2d prefilter %2d recall %.2f; %s", c.name, len(full.Events), len(pre.Events), r, rep)
		if pre.Prefilter == nil && (c.name == "room-fmp4" || c.name == "room-crf") {
			t.Errorf("%s: the prefilter should handle this file", c.name)
		}
		if r < 1 {
			t.Errorf("%s: prefilter lost events %s (full: %s, prefilter: %s)", c.name, spans(missed), spans(full.Events), spans(pre.Events))
		}
	}
	if skipped == 0 {
		t.Error("the prefilter never skipped anything: it is not doing its job")
	}
}

// TestPrefilterSkipsStillFootage checks that on a still scene the prefilter
// decodes little, and falls back to full decoding when GOPs are too long.
func TestPrefilterSkipsStillFootage(t *testing.T) {
	dir := t.TempDir()
	still := filepath.Join(dir, "still.mp4")
	ffmpeg(t, "-stream_loop", "4", "-i", footage+"static-room.mp4", "-vf", "split[a][b];[b]reverse[r];[a][r]concat=n=2:v=1:a=0",
		"-an", "-c:v", "libx264", "-preset", "ultrafast", "-g", "20", still)
	full, pre := analyzeBoth(t, still)
	if pre.Prefilter == nil || pre.Prefilter.SkippedSeconds < full.Duration/2 {
		t.Fatalf("still footage: want most of %.0f s skipped, got %+v", full.Duration, pre.Prefilter)
	}
	if len(pre.Events) != 0 || len(full.Events) != 0 {
		t.Errorf("still footage has events: full %s prefilter %s", spans(full.Events), spans(pre.Events))
	}
	frag := filepath.Join(dir, "still-fmp4.mp4")
	ffmpeg(t, "-i", still, "-c", "copy", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", frag)
	_, fpre := analyzeBoth(t, frag)
	if fpre.Prefilter == nil || fpre.Prefilter.SkippedSeconds < full.Duration/2 || len(fpre.Events) != 0 {
		t.Fatalf("still fragmented MP4: want most skipped and no events, got %+v %s", fpre.Prefilter, spans(fpre.Events))
	}
	longGOP := filepath.Join(dir, "long-gop.mp4")
	ffmpeg(t, "-i", still, "-c:v", "libx264", "-preset", "ultrafast", "-g", "300", longGOP)
	cfg := DefaultConfig()
	cfg.Prefilter = true
	res, err := Analyze(context.Background(), longGOP, cfg)
	if err != nil || res.Prefilter != nil || res.Decoded != res.Frames {
		t.Fatalf("GOP longer than %s: want a full decode, got %v %+v", cfg.PrefilterMaxSpan.D(), err, res.Prefilter)
	}
}
