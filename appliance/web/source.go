package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"
)

// frame is one H.264 access unit in Annex-B form, ready for the RTP
// packetiser, with how long it stays on screen.
type frame struct {
	data []byte
	dur  time.Duration
	pos  time.Duration // presentation position in the clip
	key  bool
}

// source yields a clip's frames in order from a start position; a seek
// makes a new source.
type source interface {
	next() (frame, error) // io.EOF at the end of the clip
	Close() error
}

// clip is an MP4's H.264 sample table, read once per preview session.
type clip struct {
	f         *os.File
	timescale uint32
	sps, pps  []byte
	samples   []*pmp4.Sample
	dts       []int64 // decode time of each sample, in timescale units
}

// errNeedsTranscode says the clip cannot be passed through as stored.
var errNeedsTranscode = errors.New("clip needs transcoding")

// openClip reads the sample table of path's first video track. It returns
// errNeedsTranscode when that track is not H.264 or has B-frames, which
// Chromium's WebRTC decoder stalls on.
func openClip(path string) (*clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open clip: %w", err)
	}
	var p pmp4.Presentation
	if err := p.Unmarshal(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("read mp4 %s: %v: %w", filepath.Base(path), err, errNeedsTranscode)
	}
	for _, tr := range p.Tracks {
		if !tr.Codec.IsVideo() {
			continue
		}
		c, ok := tr.Codec.(*mp4.CodecH264)
		if !ok {
			f.Close()
			return nil, fmt.Errorf("video codec %T: %w", tr.Codec, errNeedsTranscode)
		}
		cl := &clip{f: f, timescale: tr.TimeScale, sps: c.SPS, pps: c.PPS, samples: tr.Samples}
		if len(cl.samples) == 0 || cl.timescale == 0 {
			f.Close()
			return nil, fmt.Errorf("empty video track: %w", errNeedsTranscode)
		}
		cl.fillDTS()
		if cl.hasBFrames() {
			f.Close()
			return nil, fmt.Errorf("clip has B-frames: %w", errNeedsTranscode)
		}
		return cl, nil
	}
	f.Close()
	return nil, fmt.Errorf("no video track: %w", errNeedsTranscode)
}

func (c *clip) fillDTS() {
	c.dts = make([]int64, len(c.samples))
	var t int64
	for i, s := range c.samples {
		c.dts[i] = t
		t += int64(s.Duration)
	}
}

// hasBFrames is true when presentation order differs from decode order;
// a constant composition offset (some muxers write one) is not reordering.
func (c *clip) hasBFrames() bool {
	prev := int64(-1 << 62)
	for i, s := range c.samples {
		pts := c.dts[i] + int64(s.PTSOffset)
		if pts <= prev {
			return true
		}
		prev = pts
	}
	return false
}

func (c *clip) toDuration(units int64) time.Duration {
	return time.Duration(units) * time.Second / time.Duration(c.timescale)
}

// Duration is the length of the clip.
func (c *clip) Duration() time.Duration {
	last := len(c.samples) - 1
	return c.toDuration(c.dts[last] + int64(c.samples[last].Duration))
}

// keyframeAt is the index of the last sync sample at or before pos, where
// decoding must start for a seek to pos.
func (c *clip) keyframeAt(pos time.Duration) int {
	n := sort.Search(len(c.samples), func(i int) bool { return c.toDuration(c.dts[i]) > pos })
	for i := min(n, len(c.samples)) - 1; i > 0; i-- {
		if !c.samples[i].IsNonSyncSample {
			return i
		}
	}
	return 0
}

func (c *clip) Close() error { return c.f.Close() }

// passthrough replays stored samples from a keyframe on; it only reads the
// file, so sixteen of them cost little more than the disk reads.
type passthrough struct {
	c *clip
	i int
}

func (c *clip) from(pos time.Duration) *passthrough {
	return &passthrough{c: c, i: c.keyframeAt(pos)}
}

func (p *passthrough) next() (frame, error) {
	if p.i >= len(p.c.samples) {
		return frame{}, io.EOF
	}
	s := p.c.samples[p.i]
	payload, err := s.GetPayload()
	if err != nil {
		return frame{}, fmt.Errorf("read sample %d: %w", p.i, err)
	}
	var avcc h264.AVCC
	if err := avcc.Unmarshal(payload); err != nil {
		return frame{}, fmt.Errorf("sample %d: %w", p.i, err)
	}
	nalus := [][]byte(avcc)
	key := !s.IsNonSyncSample
	if key {
		// Parameter sets travel in-band before every keyframe so a viewer
		// can start decoding there, after a seek as much as at the start.
		nalus = append([][]byte{p.c.sps, p.c.pps}, nalus...)
	}
	data, err := h264.AnnexB(nalus).Marshal()
	if err != nil {
		return frame{}, fmt.Errorf("sample %d: %w", p.i, err)
	}
	f := frame{data: data, dur: p.c.toDuration(int64(s.Duration)), pos: p.c.toDuration(p.c.dts[p.i]), key: key}
	p.i++
	return f, nil
}

// Close is a no-op: the clip's file is owned by the session.
func (p *passthrough) Close() error { return nil }

// transcode re-encodes with ffmpeg into B-frame-free baseline H.264 with the
// viewer's watermark burned in, read from ffmpeg's stdout as Annex-B.
type transcode struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	buf    []byte
	dur    time.Duration
	pos    time.Duration
	cancel context.CancelFunc
	wmFile string
	stderr bytes.Buffer
}

type transcodeOptions struct {
	ffmpeg    string
	path      string
	start     time.Duration
	fps       float64
	watermark string
	tmpDir    string
}

func startTranscode(o transcodeOptions) (*transcode, error) {
	fps := o.fps
	if fps <= 0 || fps > 60 {
		fps = 25
	}
	// The watermark goes through a file so that no name or time needs
	// escaping for ffmpeg's filter syntax; %{gmtime} is the live clock.
	wm, err := os.CreateTemp(o.tmpDir, "watermark-*.txt")
	if err != nil {
		return nil, fmt.Errorf("watermark: %w", err)
	}
	fmt.Fprintf(wm, "%s  %%{gmtime} UTC", o.watermark)
	wm.Close()
	ctx, cancel := context.WithCancel(context.Background())
	fpsArg := strconv.FormatFloat(fps, 'f', 3, 64)
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin",
		"-ss", strconv.FormatFloat(o.start.Seconds(), 'f', 3, 64), "-i", o.path,
		"-an", "-sn", "-dn",
		"-vf", "drawtext=textfile=" + wm.Name() + ":fontsize=h/24:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=6:x=10:y=h-th-12",
		"-fps_mode", "cfr", "-r", fpsArg,
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline", "-bf", "0",
		"-g", strconv.Itoa(int(fps + 0.5)), "-x264-params", "aud=1:repeat-headers=1",
		"-f", "h264", "pipe:1"}
	cmd := exec.CommandContext(ctx, o.ffmpeg, args...)
	t := &transcode{cmd: cmd, cancel: cancel, wmFile: wm.Name(), dur: time.Duration(float64(time.Second) / fps), pos: o.start}
	cmd.Stderr = &t.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		os.Remove(wm.Name())
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		os.Remove(wm.Name())
		return nil, fmt.Errorf("start %s: %w", o.ffmpeg, err)
	}
	t.out = bufio.NewReaderSize(stdout, 256<<10)
	return t, nil
}

// audStart finds the next access unit delimiter NAL (type 9) at or after
// from; x264 writes one before every frame, which is how frames are split.
func audStart(b []byte, from int) int {
	for {
		i := bytes.Index(b[from:], []byte{0, 0, 1, 9})
		if i < 0 {
			return -1
		}
		i += from
		if i > 0 && b[i-1] == 0 {
			return i - 1
		}
		return i
	}
}

func (t *transcode) next() (frame, error) {
	for {
		if start := audStart(t.buf, 0); start >= 0 {
			if end := audStart(t.buf, start+4); end >= 0 {
				au := bytes.Clone(t.buf[start:end])
				t.buf = t.buf[end:]
				f := frame{data: au, dur: t.dur, pos: t.pos, key: hasIDR(au)}
				t.pos += t.dur
				return f, nil
			}
		}
		chunk := make([]byte, 64<<10)
		n, err := t.out.Read(chunk)
		t.buf = append(t.buf, chunk[:n]...)
		if err == io.EOF {
			if start := audStart(t.buf, 0); start >= 0 && len(t.buf) > start+6 {
				au := t.buf[start:]
				t.buf = nil
				return frame{data: au, dur: t.dur, pos: t.pos, key: hasIDR(au)}, nil
			}
			if werr := t.cmd.Wait(); werr != nil && t.stderr.Len() > 0 {
				return frame{}, fmt.Errorf("ffmpeg: %s", bytes.TrimSpace(t.stderr.Bytes()))
			}
			return frame{}, io.EOF
		}
		if err != nil {
			return frame{}, fmt.Errorf("read ffmpeg output: %w", err)
		}
	}
}

func hasIDR(au []byte) bool {
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 && au[i+3]&0x1f == 5 {
			return true
		}
	}
	return false
}

func (t *transcode) Close() error {
	t.cancel()
	t.cmd.Wait()
	os.Remove(t.wmFile)
	return nil
}
