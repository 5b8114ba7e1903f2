package redact

import (
	"encoding/binary"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// speechClip makes a 10 s master: real car-park video, and as its sound a
// quiet brown-noise background (a room's hum) with two sentences spoken by
// espeak-ng starting at 1 s and 6 s. It returns the clip and the two
// utterances' spans, measured from the synthesised speech itself.
func speechClip(t *testing.T) (string, []Span) {
	t.Helper()
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Fatal("espeak-ng is not installed (scripts/deps.sh installs it)")
	}
	dir := t.TempDir()
	var spans []Span
	var inputs []string
	for i, text := range []string{
		"The suspect lives at forty two Mill Road.",
		"My name is Sarah Jones.",
	} {
		wav := filepath.Join(dir, fmt.Sprintf("s%d.wav", i))
		if out, err := exec.Command("espeak-ng", "-s", "150", "-w", wav, text).CombinedOutput(); err != nil {
			t.Fatalf("espeak-ng: %v %s", err, out)
		}
		at := 1.0 + 5*float64(i)
		a, b := speechExtent(t, wav)
		spans = append(spans, Span{at + a, at + b})
		inputs = append(inputs, "-i", wav)
	}
	clip := filepath.Join(dir, "speech.mp4")
	args := append([]string{"-t", "10", "-i", filepath.Join(footage, "parking-cars.mp4")}, inputs...)
	args = append(args, "-f", "lavfi", "-i", "anoisesrc=color=brown:amplitude=0.02:duration=10:sample_rate=48000:seed=7",
		"-filter_complex", "[1:a]adelay=1000:all=1[a];[2:a]adelay=6000:all=1[b];[3:a][a][b]amix=inputs=3:duration=first:normalize=0[out]",
		"-map", "0:v", "-map", "[out]", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "192k", "-ac", "1", "-ar", "48000", clip)
	ffmpegT(t, args...)
	return clip, spans
}

// speechExtent finds where a synthesised utterance starts and ends (espeak
// pads its output with silence).
func speechExtent(t *testing.T, wav string) (start, end float64) {
	t.Helper()
	rms := windowRMS(t, wav, 0.02)
	first, last := -1, -1
	for i, r := range rms {
		if r > -45 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		t.Fatalf("%s holds no sound", wav)
	}
	return float64(first) * 0.02, float64(last+1) * 0.02
}

// windowRMS decodes path's first audio stream to 16 kHz mono and returns
// the RMS level (dBFS) of every window of win seconds.
func windowRMS(t *testing.T, path string, win float64) []float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:a:0", "-ac", "1", "-ar", "16000", "-f", "s16le", "pipe:1").Output()
	if err != nil {
		t.Fatalf("decode audio of %s: %v", path, err)
	}
	n := int(win * 16000)
	var levels []float64
	for off := 0; off+2*n <= len(out); off += 2 * n {
		var sum float64
		for i := 0; i < n; i++ {
			x := float64(int16(binary.LittleEndian.Uint16(out[off+2*i:]))) / 32768
			sum += x * x
		}
		levels = append(levels, 10*math.Log10(sum/float64(n)+1e-12))
	}
	return levels
}

func inSpans(t float64, spans []Span, margin float64) bool {
	for _, s := range spans {
		if t >= s.Start-margin && t < s.End+margin {
			return true
		}
	}
	return false
}

// Two stretches muted and one bleeped by edits: the copy's audio is silent
// in exactly the muted stretches, a 1 kHz tone in the bleeped one, and
// elsewhere at the master's level; the speech map finds both utterances.
func TestAudioMuteBleepAndSpeechMap(t *testing.T) {
	master, speech := speechClip(t)
	edits, err := ParseEdits([]byte(`[
		{"op": "mute", "start_s": 1.8, "end_s": 3.0, "author": "dpo", "note": "address"},
		{"op": "mute", "start_s": 6.2, "end_s": 7.0, "author": "dpo", "note": "witness name"},
		{"op": "bleep", "start_s": 8.5, "end_s": 9.0}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	r := newRedactorT(t, Realtime())
	out := renderT(t, r, master, edits)
	if out.Summary.Audio != "redacted: 2 muted, 1 bleeped" {
		t.Errorf("summary audio %q", out.Summary.Audio)
	}
	muted := []Span{{1.8, 3.0}, {6.2, 7.0}}
	bleeped := []Span{{8.5, 9.0}}
	edited := append(append([]Span{}, muted...), bleeped...)
	const win, edge = 0.02, 0.05 // AAC's frames smear an edge over a few ms
	before, after := windowRMS(t, master, win), windowRMS(t, out.Path, win)
	if len(after) < len(before)-3 {
		t.Fatalf("copy has %d audio windows, master %d", len(after), len(before))
	}
	var silentBad, toneBad, keptBad, kept int
	for i := range min(len(before), len(after)) {
		at := (float64(i) + 0.5) * win
		switch {
		case inSpans(at, muted, -edge):
			if after[i] > -60 {
				silentBad++
				t.Logf("muted window at %.2f s: %.1f dBFS", at, after[i])
			}
		case inSpans(at, bleeped, -edge):
			if math.Abs(after[i]-20*math.Log10(bleepLevel/math.Sqrt2)) > 1.5 {
				toneBad++
			}
		case !inSpans(at, edited, edge) && before[i] > -50:
			kept++
			if math.Abs(after[i]-before[i]) > 1 {
				keptBad++
				t.Logf("window at %.2f s changed: %.1f -> %.1f dBFS", at, before[i], after[i])
			}
		}
	}
	if silentBad > 0 || toneBad > 0 || keptBad > 0 || kept < 200 {
		t.Errorf("not silent: %d windows; tone wrong: %d; changed outside the edits: %d of %d", silentBad, toneBad, keptBad, kept)
	}

	// The speech map: both utterances found, little else.
	sm := out.Summary.Speech
	if sm.Error != "" || len(sm.Spans) == 0 {
		t.Fatalf("no speech map: %+v", sm)
	}
	var speechTime, covered, otherTime, falseTime float64
	for at := 0.005; at < 10; at += 0.01 {
		found := inSpans(at, sm.Spans, 0)
		if inSpans(at, speech, 0) {
			speechTime += 0.01
			if found {
				covered += 0.01
			}
		} else if !inSpans(at, speech, 0.3) {
			otherTime += 0.01
			if found {
				falseTime += 0.01
			}
		}
	}
	t.Logf("speech %v, map %v: %.0f%% of speech covered, %.0f%% of the rest marked", speech, sm.Spans, 100*covered/speechTime, 100*falseTime/otherTime)
	if covered < 0.9*speechTime || falseTime > 0.1*otherTime {
		t.Errorf("speech map misses %.2f s of %.2f s of speech and marks %.2f s of %.2f s of background", speechTime-covered, speechTime, falseTime, otherTime)
	}
	checkBrowserPlayable(t, out.Path)
}

// Mute and bleep edits are checked like any other: a box is refused.
func TestAudioEditsValidated(t *testing.T) {
	for _, bad := range []string{
		`[{"op": "mute", "start_s": 1, "end_s": 1}]`,
		`[{"op": "bleep", "start_s": 0, "end_s": 1, "box": {"x": 0, "y": 0, "w": 4, "h": 4}}]`,
	} {
		if _, err := ParseEdits([]byte(bad)); err == nil || !strings.Contains(err.Error(), "manual edit 1") {
			t.Errorf("ParseEdits(%s) = %v, want an error naming the edit", bad, err)
		}
	}
}
