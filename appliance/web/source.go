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
	"strconv"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/edgetriage/edgetriage/media/ffmpeg"
	"github.com/edgetriage/edgetriage/media/mp4"
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
	f          *os.File
	timescale  uint32
	lengthSize int
	sps, pps   [][]byte
	samples    []sample
	keyframes  []int // sample indexes of IDR frames, ascending
}

type sample struct {
	offset int64
	size   uint32
	dts    int64 // decode time, in timescale units
	dur    uint32
	cts    int64 // composition offset
	key    bool
}

// errNeedsTranscode says the clip cannot be passed through as stored.
var errNeedsTranscode = errors.New("clip needs transcoding")

// openClip reads the sample table of path's first H.264 video track. It
// returns errNeedsTranscode when there is none or it has B-frames, which
// Chromium's WebRTC decoder stalls on.
func openClip(path string) (*clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open clip: %w", err)
	}
	c, err := readClip(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return c, nil
}

func readClip(f *os.File) (*clip, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	tr, err := mp4.ReadH264Track(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("read mp4: %v: %w", err, errNeedsTranscode)
	}
	c := &clip{f: f, timescale: tr.Timescale, lengthSize: tr.LengthSize, sps: tr.SPS, pps: tr.PPS,
		samples: make([]sample, len(tr.Samples))}
	for i, s := range tr.Samples {
		c.samples[i] = sample{offset: s.Offset, size: s.Size, dts: s.DTS, dur: s.Duration, cts: int64(s.PTSOffset)}
	}
	if c.hasBFrames() {
		return nil, fmt.Errorf("clip has B-frames: %w", errNeedsTranscode)
	}
	if err := c.findKeyframes(); err != nil {
		return nil, err
	}
	return c, nil
}

// findKeyframes marks the samples holding an IDR picture, reading only
// the NAL unit headers.
func (c *clip) findKeyframes() error {
	hdr := make([]byte, c.lengthSize+1)
	for i := range c.samples {
		s := &c.samples[i]
		for at := int64(0); at+int64(len(hdr)) <= int64(s.size); {
			if _, err := c.f.ReadAt(hdr, s.offset+at); err != nil {
				return fmt.Errorf("read sample %d: %v: %w", i, err, errNeedsTranscode)
			}
			var n int64
			for _, x := range hdr[:c.lengthSize] {
				n = n<<8 | int64(x)
			}
			if hdr[c.lengthSize]&0x1f == 5 {
				s.key = true
				c.keyframes = append(c.keyframes, i)
				break
			}
			at += int64(c.lengthSize) + n
		}
	}
	if len(c.keyframes) == 0 {
		return fmt.Errorf("no keyframe in the clip: %w", errNeedsTranscode)
	}
	return nil
}

// hasBFrames is true when presentation order differs from decode order;
// a constant composition offset (some muxers write one) is not reordering.
func (c *clip) hasBFrames() bool {
	prev := int64(-1 << 62)
	for _, s := range c.samples {
		pts := s.dts + s.cts
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
	last := c.samples[len(c.samples)-1]
	return c.toDuration(last.dts + int64(last.dur))
}

// keyframeAt is the index of the last keyframe at or before pos, where
// decoding must start for a seek to pos.
func (c *clip) keyframeAt(pos time.Duration) int {
	best := c.keyframes[0]
	for _, k := range c.keyframes {
		if c.toDuration(c.samples[k].dts) > pos {
			break
		}
		best = k
	}
	return best
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

// splitNALUs cuts a length-prefixed sample into its NAL units.
func splitNALUs(b []byte, lengthSize int) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < lengthSize {
			return nil, errors.New("truncated NAL length")
		}
		var n int
		for _, x := range b[:lengthSize] {
			n = n<<8 | int(x)
		}
		b = b[lengthSize:]
		if n > len(b) {
			return nil, fmt.Errorf("NAL unit of %d bytes overruns the sample", n)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out, nil
}

func (p *passthrough) next() (frame, error) {
	if p.i >= len(p.c.samples) {
		return frame{}, io.EOF
	}
	s := p.c.samples[p.i]
	payload := make([]byte, s.size)
	if _, err := p.c.f.ReadAt(payload, s.offset); err != nil {
		return frame{}, fmt.Errorf("read sample %d: %w", p.i, err)
	}
	nalus, err := splitNALUs(payload, p.c.lengthSize)
	if err != nil {
		return frame{}, fmt.Errorf("sample %d: %w", p.i, err)
	}
	if s.key {
		// Parameter sets travel in-band before every keyframe so a viewer
		// can start decoding there, after a seek as much as at the start.
		ps := append(append([][]byte{}, p.c.sps...), p.c.pps...)
		nalus = append(ps, nalus...)
	}
	data, err := h264.AnnexB(nalus).Marshal()
	if err != nil {
		return frame{}, fmt.Errorf("sample %d: %w", p.i, err)
	}
	f := frame{data: data, dur: p.c.toDuration(int64(s.dur)), pos: p.c.toDuration(s.dts), key: s.key}
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
	in, err := ffmpeg.File(o.path)
	if err != nil {
		os.Remove(wm.Name())
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	fpsArg := strconv.FormatFloat(fps, 'f', 3, 64)
	cmd := ffmpeg.FFmpeg(o.ffmpeg).Args("-loglevel", "error").
		Input(in, "-ss", strconv.FormatFloat(o.start.Seconds(), 'f', 3, 64)).
		Args("-an", "-sn", "-dn",
			"-vf", "drawtext=textfile="+wm.Name()+":fontsize=h/24:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=6:x=10:y=h-th-12",
			"-fps_mode", "cfr", "-r", fpsArg,
			"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline", "-bf", "0",
			"-g", strconv.Itoa(int(fps+0.5)), "-x264-params", "aud=1:repeat-headers=1",
			"-f", "h264", "pipe:1").Cmd(ctx)
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
