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

// TestPrefilterFindsAWalkThroughInStillFootage is the case the prefilter
// exists for and the one spans make risky: a long still stretch, a car that
// crosses the frame in a few seconds, still again; whatever the rate
// control. Where the encoder's quantiser is free (CRF, constant QP) the
// car's bits alone must keep its GOPs out of multi-GOP spans and send
// them to a full decode, wherever the keyframes fall. Under a bit rate cap
// a car a tenth of the frame wide costs the encoder too little to tell
// (its bits stay within a fifth of the still scene's): there the keyframes
// bounding each span find it, and a car that came and went between them
// would not be seen (prefilter.go).
func TestPrefilterFindsAWalkThroughInStillFootage(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.mkv")
	// 36 s of the car park's own still stretch (played forwards and
	// backwards, so the loop has no jump), a car crossing, 36 s still.
	ffmpeg(t, "-i", footage+"parking-cars.mp4", "-filter_complex",
		"[0:v]trim=9.5:12.5,setpts=PTS-STARTPTS,split[a][b];[b]reverse[r];[a][r]concat=n=2:v=1:a=0,loop=loop=5:size=75:start=0,split[s1][s2];"+
			"[0:v]trim=13.5:19.5,setpts=PTS-STARTPTS[car];[s1][car][s2]concat=n=3:v=1:a=0,setpts=N/12.5/TB[out]",
		"-map", "[out]", "-c:v", "ffv1", src)
	rc := map[string][]string{
		"crf":     {"-crf", "23"},
		"cbr":     {"-b:v", "500k", "-minrate", "500k", "-maxrate", "500k", "-bufsize", "500k", "-x264-params", "nal-hrd=cbr"},
		"vbv-cap": {"-b:v", "300k", "-maxrate", "300k", "-bufsize", "300k"},
		"cqp":     {"-qp", "28"},
	}
	for name, r := range rc {
		p := filepath.Join(dir, name+".mp4")
		ffmpeg(t, append(append([]string{"-i", src, "-c:v", "libx264", "-preset", "veryfast", "-g", "25"}, r...), p)...)
		full, pre := analyzeBoth(t, p)
		rec, missed := recall(full.Events, pre.Events)
		if pre.Prefilter == nil {
			t.Fatalf("%s: the prefilter should handle this file", name)
		}
		t.Logf("%-8s full %s prefilter %s; %d/%d GOPs decoded, %d keyframes, %.1f s skipped", name, spans(full.Events), spans(pre.Events),
			pre.Prefilter.DecodedGOPs, pre.Prefilter.GOPs, pre.Prefilter.Keyframes, pre.Prefilter.SkippedSeconds)
		if len(full.Events) == 0 {
			t.Errorf("%s: full decoding found no car", name)
		}
		if rec < 1 {
			t.Errorf("%s: prefilter lost %s", name, spans(missed))
		}
		if pre.Prefilter.SkippedSeconds < 40 {
			t.Errorf("%s: only %.1f s of %.0f s still footage skipped", name, pre.Prefilter.SkippedSeconds, full.Duration)
		}
		if name == "crf" || name == "cqp" {
			checkBitsSeeTheCar(t, name, p, full.Events)
		}
	}
}

// checkBitsSeeTheCar requires the encoder's bit spending alone to keep
// every GOP the car is seen in throughout out of multi-GOP spans, and to
// send at least one to a full decode: keyframes that happen to show the car
// would hide a blind bit signal from the end-to-end check.
func checkBitsSeeTheCar(t *testing.T, name, path string, events []Event) {
	t.Helper()
	tr, costs := frameCosts(t, path)
	gops, err := splitGOPs(tr, costs, 10)
	if err != nil {
		t.Fatal(err)
	}
	suspect, steady := (&prefilter{tr: tr, gops: gops}).judgeBits()
	anySuspect := false
	for i, g := range gops {
		for _, e := range events {
			// GOPs with only the car's head or tail in them are decoded
			// as neighbours of the others.
			if g.start >= e.Start && g.start+g.dur <= e.End {
				if steady[i] {
					t.Errorf("%s: the GOP at %.1f s shows the car but its bits look steady", name, g.start)
				}
				anySuspect = anySuspect || suspect[i]
			}
		}
	}
	if !anySuspect {
		t.Errorf("%s: no GOP with the car in it has suspect bit spending", name)
	}
}
