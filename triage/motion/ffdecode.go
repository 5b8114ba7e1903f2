package motion

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"strconv"
	"strings"
	"sync"

	"gocv.io/x/gocv"

	ff "github.com/edgetriage/edgetriage/media/ffmpeg" // the tests name a helper ffmpeg
)

// Full decoding through an ffmpeg child process rather than OpenCV's
// VideoCapture: ffmpeg delivers only what the detector reads, the luma
// plane already shrunk to the detector's working size (57 KB a frame at
// 320x180 instead of a 6 MB BGR 1080p frame), so the child costs little
// more than decoding alone. It decodes on one thread, like the baseline a
// station's CPU budget is counted against. The detector still runs on
// gocv, on the other side of the pipe. ffmpeg's showinfo filter reports
// each frame's presentation time (it costs nothing measurable at this
// size), so variable frame rates are timed right, and ffmpeg's own error
// messages become the decoder's complaint in a DecodeError. Thumbnails are
// cut from the file afterwards, one seek per event (thumbnail.go), instead
// of carrying colour through the pipe for every frame.

type streamInfo struct {
	width, height int
	duration      float64
}

// probeVideo reads the first video stream's size and the file's duration.
// A playlist or list is refused (media/ffmpeg) without starting ffprobe.
func probeVideo(ctx context.Context, path string) (streamInfo, error) {
	info, err := ff.ProbeFile(ctx, path, ff.ProbeOptions{})
	if errors.Is(err, ff.ErrRefused) {
		return streamInfo{}, &DecodeError{Path: path, Reason: err.Error()}
	}
	if err != nil {
		return streamInfo{}, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	if msg := cleanMsg(info.Complaint, path); msg != "" {
		return streamInfo{}, &DecodeError{Path: path, Reason: msg}
	}
	v, ok := info.Video()
	if !ok || v.Width <= 0 || v.Height <= 0 {
		return streamInfo{}, &DecodeError{Path: path, Reason: "no video stream"}
	}
	return streamInfo{width: v.Width, height: v.Height, duration: info.Duration}, nil
}

// streamOf is what the caller knows of the stream, or, when it knows no
// size, what ffprobe says.
func streamOf(ctx context.Context, path string, known Stream) (streamInfo, error) {
	if known.Width > 0 && known.Height > 0 {
		return streamInfo{width: known.Width, height: known.Height, duration: known.Duration}, nil
	}
	return probeVideo(ctx, path)
}

func cleanMsg(s, path string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, path+": ", ""))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// grayScale is how ffmpeg shrinks the luma plane. fast_bilinear is the
// cheapest swscale path that still interpolates; the detector blurs its
// work frame anyway, so a better filter buys nothing but CPU (area scaling
// costs a third of a millisecond more per 1080p frame). Nearest neighbour
// would save another tenth of a millisecond but aliases foliage into
// motion that persistence no longer absorbs (tree-nuisance fails).
const grayScale = "fast_bilinear"

// ffDecode decodes the first video stream of input with a single-threaded
// ffmpeg child process, delivering its luma shrunk to w x h (8-bit, one
// channel) with presentation times to fn (on the calling goroutine, while
// the next frame is being read). With maxFPS > 0, frames closer than
// 1/maxFPS to the last one delivered are dropped before they are shrunk.
// It returns the count of frames delivered and ffmpeg's error lines. When
// ctx ends, ffmpeg is stopped and ffDecode returns after every goroutine it
// started.
//
// Every frame is reconstructed, but without the in-loop deblocking filter,
// which is a fifth of H.264's decoding time and smooths only the edges of
// 4x4 and 8x8 blocks: shrunk six times and blurred, what it changes is
// below a grey level, except that predicted frames drift a little from the
// encoder's until the next keyframe. Checked on every clip in the footage
// set and on CRF 28, 200 kbit/s CBR, QP 40 and QP 45 re-encodes (also of
// darkened copies, where contrast normalisation amplifies): the same
// events, within a tenth of a second, except foliage nuisance at QP 40-45,
// which comes and goes either way. Full decodes, the prefilter's GOPs and
// its keyframes all skip it, so the prefilter sees exactly the pixels a
// full decode sees.
func ffDecode(parent context.Context, input string, w, h int, maxFPS float64, fn func(m gocv.Mat, t float64)) (int, []string, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	in, err := ff.File(input)
	if err != nil {
		return 0, nil, err
	}
	cmd := ff.FFmpeg("").Args("-loglevel", "+level+info").
		Input(in, "-threads", "1", "-skip_loop_filter", "all").
		Args("-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough", "-filter_threads", "1",
			"-vf", thinning(maxFPS)+fmt.Sprintf("scale=%d:%d:flags=%s,showinfo=checksum=0", w, h, grayScale),
			"-pix_fmt", "gray", "-f", "rawvideo", "-").Cmd(ctx)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, nil, fmt.Errorf("ffmpeg %s: %w", input, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, nil, fmt.Errorf("ffmpeg %s: %w", input, err)
	}
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("ffmpeg %s: %w", input, err)
	}
	times := make(chan float64, 256)
	var complaint []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(times)
		complaint = readShowinfo(ctx, stderr, in.URL(), times)
	}()
	n := eachRawFrame(ctx, stdout, w, h, func(m gocv.Mat) {
		if t, ok := <-times; ok {
			fn(m, t)
		}
	})
	cancel() // stops ffmpeg if reading stopped early
	wg.Wait()
	_ = cmd.Wait() // its complaints are on stderr; the exit status adds nothing
	return n, complaint, nil
}

// thinning is the filter that keeps the first frame of each 1/maxFPS slot
// of the clip's time, the rule the analyzer's thinner applies, so the
// frames dropped here are never shrunk. It selects on time rather than
// frame count, so variable frame rates and sources slower than maxFPS pass
// unharmed.
func thinning(maxFPS float64) string {
	if maxFPS <= 0 {
		return ""
	}
	slot := fmt.Sprintf("floor(%%s*%g+%g)", maxFPS, slotSlack)
	return fmt.Sprintf(`select='isnan(prev_selected_t)+gt(%s\,%s)',`, fmt.Sprintf(slot, "t"), fmt.Sprintf(slot, "prev_selected_t"))
}

func analyzeFFmpeg(parent context.Context, path string, cfg Config) (Result, error) {
	si, err := streamOf(parent, path, cfg.Stream)
	if err != nil {
		return Result{Path: path}, err
	}
	a, err := newAnalyzer(path, cfg)
	if err != nil {
		return Result{}, err
	}
	defer a.close()
	ws := workSize(image.Pt(si.width, si.height), cfg.WorkHeight)
	n, complaint, err := ffDecode(parent, path, ws.X, ws.Y, cfg.AnalysisFPS, a.feed)
	if err != nil {
		return Result{Path: path}, err
	}
	res := a.finish()
	res.Width, res.Height = si.width, si.height
	res.Frames = n
	addThumbnails(parent, path, si, res.Events)
	if err := parent.Err(); err != nil {
		return res, fmt.Errorf("analyze %s: %w", path, err)
	}
	msg := strings.Join(complaint, "; ")
	if n == 0 {
		if msg == "" {
			msg = "no frame could be decoded"
		}
		return res, &DecodeError{Path: path, Reason: msg}
	}
	if si.duration > 0 && res.Duration < 0.9*si.duration-1 {
		if msg == "" {
			msg = "no decoder message"
		}
		return res, &DecodeError{Path: path, Frames: res.Decoded,
			Reason: fmt.Sprintf("stream ends at %.1f s of %.1f s (truncated or corrupt): %s", res.Duration, si.duration, msg)}
	}
	return res, nil
}

// readShowinfo sends each frame's pts_time from ffmpeg's log to times and
// returns the error lines.
func readShowinfo(ctx context.Context, r io.Reader, path string, times chan<- float64) []string {
	var errs []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if _, rest, ok := strings.Cut(line, " pts_time:"); ok && strings.Contains(line, "showinfo") {
			f := strings.Fields(rest)
			if len(f) == 0 {
				continue
			}
			t, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				continue
			}
			select {
			case times <- t:
			case <-ctx.Done():
			}
			continue
		}
		if (strings.Contains(line, "[error]") || strings.Contains(line, "[fatal]")) && len(errs) < 5 {
			errs = append(errs, cleanMsg(line[strings.LastIndex(line, "] ")+2:], path))
		}
	}
	return errs
}

// eachRawFrame reads 8-bit grey frames of w x h from r on its own goroutine
// while fn analyses the one before; it returns the number of frames read.
func eachRawFrame(ctx context.Context, r io.Reader, w, h int, fn func(m gocv.Mat)) int {
	free := make(chan gocv.Mat, pipelineDepth+1)
	for range pipelineDepth + 1 {
		free <- gocv.NewMatWithSize(h, w, gocv.MatTypeCV8U)
	}
	frames := make(chan gocv.Mat, pipelineDepth)
	go func() {
		defer close(frames)
		for {
			m := <-free
			buf, err := m.DataPtrUint8()
			if err != nil || ctx.Err() != nil {
				free <- m
				return
			}
			if _, err := io.ReadFull(r, buf); err != nil {
				free <- m
				return
			}
			frames <- m
		}
	}()
	n := 0
	for m := range frames {
		if ctx.Err() == nil {
			fn(m)
			n++
		}
		free <- m
	}
	close(free)
	for m := range free {
		m.Close()
	}
	return n
}
