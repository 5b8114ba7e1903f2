package mp4_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/media/mp4"
)

const footage = "../../testdata/footage/"

func derive(t testing.TB, src, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("ffmpeg", append(append([]string{"-nostdin", "-v", "error", "-i", footage + src}, args...), out)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("derive %s: %v: %s", name, err, msg)
	}
	return out
}

func readTrack(t testing.TB, path string) (*mp4.Track, error) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return mp4.ReadH264Track(bytes.NewReader(raw), int64(len(raw)))
}

// packet is one video packet as ffprobe lists it.
type packet struct {
	pts, dts, pos int64
	size          int
	key           bool
}

func ffprobePackets(t *testing.T, path string) []packet {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
		"packet=pts,dts,size,pos,flags", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var ps []packet
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 5 {
			t.Fatalf("ffprobe line %q", line)
		}
		var p packet
		p.pts, _ = strconv.ParseInt(f[0], 10, 64)
		p.dts, _ = strconv.ParseInt(f[1], 10, 64)
		p.size, _ = strconv.Atoi(f[2])
		p.pos, _ = strconv.ParseInt(f[3], 10, 64)
		p.key = strings.HasPrefix(f[4], "K")
		ps = append(ps, p)
	}
	return ps
}

// Every clip in the footage set, as stored and as the recorder and
// cameras rewrite it (fragmented, QuickTime, B-frames, index first without
// an edit list), reads as ffprobe reads it: the same packets in decode order at
// the same positions, with the same sizes, times and keyframes.
func TestSampleTablesMatchFFprobe(t *testing.T) {
	cases := map[string]string{}
	for _, c := range []string{"faces-walking.mp4", "store-aisle.mp4", "room-people-enter-leave.mp4", "parking-cars.mp4", "static-room.mp4"} {
		cases[c] = footage + c
	}
	cases["fragmented"] = derive(t, "parking-cars.mp4", "frag.mp4", "-c", "copy", "-movflags", "frag_keyframe+empty_moov+default_base_moof")
	cases["fragmented-separate-moof"] = derive(t, "static-room.mp4", "frag2.mp4", "-c", "copy", "-movflags", "frag_keyframe+empty_moov+separate_moof", "-frag_duration", "500000")
	cases["quicktime"] = derive(t, "store-aisle.mp4", "q.mov", "-c", "copy")
	cases["b-frames"] = derive(t, "faces-walking.mp4", "b.mp4", "-c:v", "libx264", "-bf", "3", "-preset", "veryfast")
	cases["faststart-no-editlist"] = derive(t, "faces-walking.mp4", "c.mp4", "-c", "copy", "-movflags", "+faststart", "-use_editlist", "0")
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			tr, err := readTrack(t, path)
			if err != nil {
				t.Fatal(err)
			}
			want := ffprobePackets(t, path)
			if len(tr.Samples) != len(want) {
				t.Fatalf("%d samples, ffprobe lists %d packets", len(tr.Samples), len(want))
			}
			for i, s := range tr.Samples {
				w := want[i]
				if s.Offset != w.pos || int(s.Size) != w.size || s.Sync != w.key {
					t.Fatalf("sample %d: %+v, ffprobe %+v", i, s, w)
				}
				// ffprobe shifts times by the edit list; differences must not.
				if i > 0 && (s.DTS-tr.Samples[0].DTS != w.dts-want[0].dts || s.PTS()-tr.Samples[0].PTS() != w.pts-want[0].pts) {
					t.Fatalf("sample %d times dts %d pts %d, ffprobe %+v (first %+v)", i, s.DTS, s.PTS(), w, want[0])
				}
			}
			if tr.Timescale == 0 || tr.Width == 0 || tr.Height == 0 || len(tr.SPS) == 0 || len(tr.PPS) == 0 || tr.LengthSize != 4 {
				t.Fatalf("track %+v", tr)
			}
		})
	}
}

// Files that hold no H.264 video say so, whatever they are.
func TestNotH264(t *testing.T) {
	for name, path := range map[string]string{
		"avi":        footage + "tree-nuisance.avi",
		"hevc":       derive(t, "faces-walking.mp4", "h.mp4", "-c:v", "libx265", "-x265-params", "log-level=error", "-tag:v", "hvc1"),
		"audio-only": derive(t, "parking-cars.mp4", "a.m4a", "-vn", "-c:a", "copy"),
		"png":        footage + "faces-29-still.png",
	} {
		if _, err := readTrack(t, path); !errors.Is(err, mp4.ErrNotH264) {
			t.Errorf("%s: %v, want ErrNotH264", name, err)
		}
	}
}

// A clip cut off in its media data (a camera pulled mid-write, with the
// index written first) is refused with a reason, not read past its end.
func TestTruncatedClipIsRefused(t *testing.T) {
	fast := derive(t, "parking-cars.mp4", "fast.mp4", "-c", "copy", "-movflags", "+faststart")
	raw, err := os.ReadFile(fast)
	if err != nil {
		t.Fatal(err)
	}
	cut := raw[:len(raw)/2]
	_, err = mp4.ReadH264Track(bytes.NewReader(cut), int64(len(cut)))
	if !errors.Is(err, mp4.ErrBeyondFile) {
		t.Fatalf("half a clip: %v", err)
	}
}

func putBox(typ string, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(b, typ...), body...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// craftedFragments is a real fragmented clip's header followed by n moof
// boxes, each a trun that claims count samples of the default size (five
// bytes, from the trex: a NAL length and header) with no per-sample
// fields: 68 bytes that describe count samples, all over the same bytes.
func craftedFragments(t *testing.T, n int, count uint32) []byte {
	t.Helper()
	frag, err := os.ReadFile(derive(t, "static-room.mp4", "frag.mp4", "-c", "copy", "-movflags", "frag_keyframe+empty_moov+default_base_moof"))
	if err != nil {
		t.Fatal(err)
	}
	moof := bytes.Index(frag, []byte("moof")) - 4
	head := bytes.Clone(frag[:moof])
	// trex defaults for track 1: five-byte samples.
	trex := bytes.Index(head, []byte("trex"))
	binary.BigEndian.PutUint32(head[trex+4+16:], 5)
	out := head
	for range n {
		trun := putBox("trun", u32(0x000001), u32(count), u32(0))
		traf := putBox("traf", putBox("tfhd", u32(0x020000), u32(1)), trun)
		out = append(out, putBox("moof", putBox("mfhd", u32(0), u32(1)), traf)...)
	}
	return append(out, putBox("mdat", make([]byte, 64))...)
}

// A crafted fragmented file cannot make the reader allocate beyond what
// the file can hold: a trun claiming four billion empty-field samples, and
// thousands of truns each claiming the most a real fragment has (all over
// the same bytes), are refused before their tables are built, with little
// memory spent.
func TestCraftedFragmentsAllocateBoundedMemory(t *testing.T) {
	for name, data := range map[string][]byte{
		"one huge trun":    craftedFragments(t, 1, 0xffffffff),
		"many small truns": craftedFragments(t, 5000, 19200),
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := mp4.ReadH264Track(bytes.NewReader(data), int64(len(data)))
			runtime.ReadMemStats(&after)
			if !errors.Is(err, mp4.ErrBeyondFile) {
				t.Fatalf("crafted file of %d bytes: %v", len(data), err)
			}
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte file: refused in %v after allocating %d KiB: %v", len(data), time.Since(start), allocated>>10, err)
			// The file could hold at most len(data)/5 samples of 32 bytes
			// each; growing the table to that allocates at most five times
			// as much in all.
			if limit := uint64(32*len(data)) + 8<<20; allocated > limit {
				t.Fatalf("allocated %d bytes reading a %d-byte file", allocated, len(data))
			}
		})
	}
}

// Recording times come from the movie header as the camera wrote them;
// a clip without a creation time and a cut-off or foreign file give
// nothing rather than a wrong time.
func TestMovieTimesFromRealClips(t *testing.T) {
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
		raw, err := os.ReadFile(footage + name)
		if err != nil {
			t.Fatal(err)
		}
		start, dur, ok := mp4.MovieTimes(bytes.NewReader(raw), int64(len(raw)))
		if ok != want.ok || !start.Equal(want.start) || (dur-want.dur).Abs() > 50*time.Millisecond {
			t.Errorf("%s: %v %v %v, want %v %v %v", name, start, dur, ok, want.start, want.dur, want.ok)
		}
		if _, _, ok := mp4.MovieTimes(bytes.NewReader(raw[:20]), 20); ok {
			t.Errorf("%s cut to 20 bytes gave a time", name)
		}
	}
}
