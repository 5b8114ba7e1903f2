package rtsp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// testVault is a small, honest vault: it copies each file under its
// SHA-256 and keeps a real hash-chained custody log in memory.
type testVault struct {
	dir string

	mu     sync.Mutex
	items  []evidence.Item
	intake []evidence.Intake
	events []evidence.CustodyEvent
}

func newTestVault(t testing.TB) *testVault {
	return &testVault{dir: t.TempDir()}
}

func (v *testVault) IngestFile(ctx context.Context, path string, in evidence.Intake) (evidence.Item, bool, error) {
	src, err := os.Open(path)
	if err != nil {
		return evidence.Item{}, false, fmt.Errorf("open %s: %w", path, err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(v.dir, "ingest-*")
	if err != nil {
		return evidence.Item{}, false, err
	}
	defer os.Remove(tmp.Name())
	h := evidence.NewHasher()
	if _, err := io.Copy(io.MultiWriter(tmp, h), src); err != nil {
		tmp.Close()
		return evidence.Item{}, false, fmt.Errorf("copy %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return evidence.Item{}, false, err
	}
	d := h.Sum()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, it := range v.items {
		if it.Digest == d {
			return it, false, nil
		}
	}
	if err := os.Rename(tmp.Name(), v.path(d)); err != nil {
		return evidence.Item{}, false, err
	}
	it := evidence.Item{Digest: d, Size: h.Size(), Kind: in.Kind, State: evidence.StateStored, Source: in.Source,
		OriginalName: in.OriginalName, CapturedStart: in.CapturedStart, CapturedEnd: in.CapturedEnd,
		IngestedAt: time.Now().UTC(), Problems: in.Problems, Labels: in.Labels}
	v.items = append(v.items, it)
	v.intake = append(v.intake, in)
	v.appendLocked(evidence.CustodyEvent{Actor: in.Actor, Action: evidence.ActionIngested, Item: d, Details: in.Details})
	return it, true, nil
}

func (v *testVault) path(d evidence.Digest) string { return filepath.Join(v.dir, d.String()+".mp4") }

func (v *testVault) Append(ctx context.Context, evs ...evidence.CustodyEvent) ([]evidence.CustodyEvent, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]evidence.CustodyEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, v.appendLocked(e))
	}
	return out, nil
}

func (v *testVault) appendLocked(e evidence.CustodyEvent) evidence.CustodyEvent {
	e.Seq = uint64(len(v.events) + 1)
	e.Time = time.Now().UTC()
	if len(v.events) > 0 {
		e.Prev = v.events[len(v.events)-1].Hash
	}
	e.Hash = e.ComputeHash()
	v.events = append(v.events, e)
	return e
}

func (v *testVault) snapshot() ([]evidence.Item, []evidence.CustodyEvent) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]evidence.Item(nil), v.items...), append([]evidence.CustodyEvent(nil), v.events...)
}

func (v *testVault) eventsOf(a evidence.Action) []evidence.CustodyEvent {
	_, evs := v.snapshot()
	var out []evidence.CustodyEvent
	for _, e := range evs {
		if e.Action == a {
			out = append(out, e)
		}
	}
	return out
}

// verify re-hashes every stored file and walks the chain, as `verify` will.
func (v *testVault) verify(t testing.TB) {
	t.Helper()
	items, evs := v.snapshot()
	for _, it := range items {
		f, err := os.Open(v.path(it.Digest))
		if err != nil {
			t.Fatalf("stored item %s: %v", it.Digest.Short(), err)
		}
		d, _, err := evidence.DigestOf(f)
		f.Close()
		if err != nil || d != it.Digest {
			t.Fatalf("stored item %s re-hashes to %s (%v)", it.Digest.Short(), d.Short(), err)
		}
	}
	for i := range evs {
		var prev *evidence.CustodyEvent
		if i > 0 {
			prev = &evs[i-1]
		}
		if err := evidence.CheckLink(prev, evs[i]); err != nil {
			t.Fatalf("custody chain: %v", err)
		}
	}
}

// probeResult is what ffprobe says about a file's first video stream.
type probeResult struct {
	Codec      string
	Frames     int     // counted by decoding
	Duration   float64 // container
	AudioCodec string
}

func probe(t testing.TB, path string) probeResult {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_type,codec_name,nb_read_frames:format=duration", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var res struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
			Frames    string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe output: %v", err)
	}
	var p probeResult
	for _, s := range res.Streams {
		switch s.CodecType {
		case "video":
			if p.Codec == "" {
				p.Codec = s.CodecName
				p.Frames, _ = strconv.Atoi(s.Frames)
			}
		case "audio":
			p.AudioCodec = s.CodecName
		}
	}
	p.Duration, _ = strconv.ParseFloat(res.Format.Duration, 64)
	return p
}

// decodeErrors decodes the whole file and returns what the decoder
// complained about; a segment that plays cleanly returns "".
func decodeErrors(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return string(out)
}
