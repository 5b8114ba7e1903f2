package redact

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/edgetriage/edgetriage/media/ffmpeg"
)

// Voice activity: where in the master someone may be speaking, for the
// reviewer to listen to and mute or bleep. It is a map to guide a person,
// not a redaction: nothing is silenced automatically.
//
// The detector works on 20 ms frames of the audio at 16 kHz mono. Speech
// puts most of its energy between 300 Hz and 3.4 kHz and rises well above
// the clip's own background there; traffic rumble, wind and hiss put theirs
// outside that band. A frame is voiced when its band energy is 10 dB over
// the clip's background (the 15th percentile of band energy, so the
// background is measured on this clip, not assumed) and the band holds at
// least 40% of the frame's energy. Frames are then smoothed as people
// speak: a span needs 3 voiced frames in 5, is held 200 ms after the last,
// and spans closer than 300 ms join.
const (
	vadRate        = 16000
	vadFrame       = vadRate / 50 // 20 ms
	vadOverFloorDB = 10
	vadBandShare   = 0.4
	vadHoldFrames  = 10 // 200 ms
	vadJoinSeconds = 0.3
	vadMinSeconds  = 0.2
)

// SpeechMap is the result of voice activity detection on a master.
type SpeechMap struct {
	Method string `json:"method"`
	Spans  []Span `json:"spans"`
	// Error says why there is no map (no audio stream, or decoding
	// failed); the render goes on without it.
	Error string `json:"error,omitempty"`
}

const vadMethod = "band energy 300-3400 Hz over the clip's background, 20 ms frames (edgetriage)"

// speechMap decodes the master's first audio stream and finds speech in it.
// offset is where the audio starts relative to the first video frame.
func speechMap(ctx context.Context, ffmpegBin, path string, offset float64) (SpeechMap, error) {
	in, err := ffmpeg.File(path)
	if err != nil {
		return SpeechMap{}, fmt.Errorf("speech map: %w", err)
	}
	cmd := ffmpeg.FFmpeg(ffmpegBin).Args("-loglevel", "error").Input(in).Args("-map", "0:a:0", "-vn",
		"-ac", "1", "-ar", fmt.Sprint(vadRate), "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1").Cmd(ctx)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return SpeechMap{}, fmt.Errorf("speech map: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return SpeechMap{}, fmt.Errorf("speech map: start ffmpeg: %w", err)
	}
	voiced, rerr := voicedFrames(bufio.NewReaderSize(stdout, 1<<16))
	if err := cmd.Wait(); err != nil {
		return SpeechMap{}, fmt.Errorf("speech map of %s: ffmpeg: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	if rerr != nil {
		return SpeechMap{}, fmt.Errorf("speech map of %s: %w", path, rerr)
	}
	return SpeechMap{Method: vadMethod, Spans: speechSpans(voiced, offset)}, nil
}

// frameEnergy is one 20 ms frame's energy in the speech band and in all.
type frameEnergy struct{ band, all float64 }

// voicedFrames reads 16 kHz mono s16le PCM to its end and judges every
// full frame.
func voicedFrames(r io.Reader) ([]bool, error) {
	bp := newSpeechBand()
	var frames []frameEnergy
	buf := make([]byte, 2*vadFrame)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return nil, err
		}
		var fe frameEnergy
		for i := 0; i < vadFrame; i++ {
			x := float64(int16(binary.LittleEndian.Uint16(buf[2*i:]))) / 32768
			y := bp.filter(x)
			fe.all += x * x
			fe.band += y * y
		}
		frames = append(frames, fe)
	}
	return judge(frames), nil
}

func judge(frames []frameEnergy) []bool {
	if len(frames) == 0 {
		return nil
	}
	db := func(e float64) float64 { return 10 * math.Log10(e/vadFrame+1e-12) }
	bands := make([]float64, len(frames))
	for i, f := range frames {
		bands[i] = db(f.band)
	}
	sorted := slices.Clone(bands)
	slices.Sort(sorted)
	// A digitally silent track would make any murmur "speech": the floor
	// never goes below what a quiet microphone records.
	floor := max(sorted[len(sorted)*15/100], -70)
	out := make([]bool, len(frames))
	for i, f := range frames {
		out[i] = bands[i] > floor+vadOverFloorDB && f.band >= vadBandShare*f.all
	}
	return out
}

// speechSpans smooths voiced frames into spans of speech.
func speechSpans(voiced []bool, offset float64) []Span {
	const frameSec = float64(vadFrame) / vadRate
	var spans []Span
	hold, start := 0, -1
	for i := range voiced {
		n := 0
		for j := max(0, i-2); j <= min(len(voiced)-1, i+2); j++ {
			if voiced[j] {
				n++
			}
		}
		if n >= 3 {
			if start < 0 {
				start = i
			}
			hold = vadHoldFrames
			continue
		}
		if start >= 0 {
			if hold--; hold <= 0 {
				spans = append(spans, Span{float64(start) * frameSec, float64(i) * frameSec})
				start = -1
			}
		}
	}
	if start >= 0 {
		spans = append(spans, Span{float64(start) * frameSec, float64(len(voiced)) * frameSec})
	}
	var out []Span
	for _, s := range spans {
		if len(out) > 0 && s.Start-out[len(out)-1].End < vadJoinSeconds {
			out[len(out)-1].End = s.End
			continue
		}
		out = append(out, s)
	}
	kept := out[:0]
	for _, s := range out {
		if s.End-s.Start >= vadMinSeconds {
			kept = append(kept, Span{round3(s.Start + offset), round3(s.End + offset)})
		}
	}
	return kept
}

// speechBand is a 300-3400 Hz band-pass: a second-order high-pass and a
// second-order low-pass (RBJ biquads) in series.
type speechBand struct{ hp, lp biquad }

type biquad struct {
	b0, b1, b2, a1, a2 float64
	x1, x2, y1, y2     float64
}

func newSpeechBand() *speechBand {
	return &speechBand{hp: rbj(300, vadRate, true), lp: rbj(3400, vadRate, false)}
}

func (s *speechBand) filter(x float64) float64 { return s.lp.step(s.hp.step(x)) }

// rbj makes a Butterworth-Q high- or low-pass biquad (Audio EQ Cookbook).
func rbj(f0, fs float64, high bool) biquad {
	w := 2 * math.Pi * f0 / fs
	alpha := math.Sin(w) / math.Sqrt2 // sin(w)/(2Q), Q = 1/sqrt(2)
	cw := math.Cos(w)
	var b0, b1, b2 float64
	if high {
		b0, b1, b2 = (1+cw)/2, -(1 + cw), (1+cw)/2
	} else {
		b0, b1, b2 = (1-cw)/2, 1-cw, (1-cw)/2
	}
	a0 := 1 + alpha
	return biquad{b0: b0 / a0, b1: b1 / a0, b2: b2 / a0, a1: -2 * cw / a0, a2: (1 - alpha) / a0}
}

func (q *biquad) step(x float64) float64 {
	y := q.b0*x + q.b1*q.x1 + q.b2*q.x2 - q.a1*q.y1 - q.a2*q.y2
	q.x2, q.x1 = q.x1, x
	q.y2, q.y1 = q.y1, y
	return y
}
