package motion

import (
	"os"
	"path/filepath"
	"testing"
)

// frameCosts reads every predicted frame's slice bytes and QP of an MP4 file.
func frameCosts(t *testing.T, path string) (*avcTrack, []frameCost) {
	t.Helper()
	tr, err := readAVCTrack(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	costs, err := readFrameCosts(f, tr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tr, costs
}

// TestSliceQPMatchesTheEncoder encodes at a constant QP with every header
// feature x264 can put before slice_qp_delta, and requires the parsed QP
// of every predicted frame to be the one asked for.
func TestSliceQPMatchesTheEncoder(t *testing.T) {
	dir := t.TempDir()
	src := []string{"-t", "6", "-i", footage + "room-people-enter-leave.mp4", "-an", "-vf", "scale=640:-2", "-c:v", "libx264", "-qp", "31"}
	for name, opts := range map[string][]string{
		"baseline-cavlc":      {"-profile:v", "baseline"},
		"high-bframes-wp":     {"-bf", "3", "-x264-params", "weightp=2:b-pyramid=normal:ref=4"},
		"slices":              {"-x264-params", "slices=4"},
		"mbaff-interlaced":    {"-flags", "+ildct+ilme", "-x264-params", "interlaced=1"},
		"annexb-fragmented":   {"-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-bsf:v", "dump_extra"},
		"poc-type-2-nobframe": {"-bf", "0", "-x264-params", "ref=1"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".mp4")
			ffmpeg(t, append(append(append([]string{}, src...), opts...), p)...)
			tr, costs := frameCosts(t, p)
			for i, c := range costs {
				if tr.samples[i].sync {
					continue
				}
				if c.sliceBytes <= 0 || c.sliceBytes > int(tr.samples[i].size) {
					t.Fatalf("sample %d: %d slice bytes of %d", i, c.sliceBytes, tr.samples[i].size)
				}
				// B-frames get x264's pbratio offset; P-frames exactly the QP asked for.
				if c.qp != 31 && (c.qp < 31 || c.qp > 34) {
					t.Fatalf("sample %d: QP %d, want 31 (P) or up to 34 (B)", i, c.qp)
				}
			}
		})
	}
}

// TestFillerIsNotCounted: a CBR encoder that may not spend its bit rate
// on a still scene (its quantiser has a floor) pads the stream with filler
// data NAL units; the slice bytes must not count them.
func TestFillerIsNotCounted(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cbr.mp4")
	ffmpeg(t, "-t", "10", "-i", footage+"static-room.mp4", "-an", "-c:v", "libx264", "-preset", "ultrafast",
		"-b:v", "800k", "-minrate", "800k", "-maxrate", "800k", "-bufsize", "800k", "-x264-params", "nal-hrd=cbr:qpmin=24", p)
	tr, costs := frameCosts(t, p)
	var sampleBytes, sliceBytes int
	for i, c := range costs {
		if !tr.samples[i].sync {
			sampleBytes += int(tr.samples[i].size)
			sliceBytes += c.sliceBytes
		}
	}
	if sliceBytes*2 > sampleBytes {
		t.Fatalf("a still room at 800 kbit/s CBR: slices %d of %d sample bytes, want most of it filler", sliceBytes, sampleBytes)
	}
}
