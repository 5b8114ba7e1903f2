package motion

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"gocv.io/x/gocv"
)

// Full decoding through an ffmpeg child process rather than OpenCV's
// VideoCapture: ffmpeg scales each frame down before converting it to BGR,
// where OpenCV converts the full 1080p frame first, which cost more than
// the decoding itself. The detector still runs on gocv. ffmpeg's showinfo
// filter reports each frame's presentation time, so variable frame rates
// are timed right, and ffmpeg's own error messages become the decoder's
// complaint in a DecodeError.

type streamInfo struct {
	width, height int
	duration      float64
}

// probeVideo reads the first video stream's size and the file's duration.
func probeVideo(ctx context.Context, path string) (streamInfo, error) {
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height:format=duration", "-of", "default=nw=1", path)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if msg := cleanMsg(stderr.String(), path); msg != "" {
		return streamInfo{}, &DecodeError{Path: path, Reason: msg}
	}
	if err != nil {
		return streamInfo{}, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	var si streamInfo
	for _, line := range strings.Split(out.String(), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch k {
		case "width":
			si.width, _ = strconv.Atoi(v)
		case "height":
			si.height, _ = strconv.Atoi(v)
		case "duration":
			si.duration, _ = strconv.ParseFloat(v, 64)
		}
	}
	if si.width <= 0 || si.height <= 0 {
		return streamInfo{}, &DecodeError{Path: path, Reason: "no video stream"}
	}
	return si, nil
}

func cleanMsg(s, path string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, path+": ", ""))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// outSize is the size ffmpeg delivers frames at: no wider than a
// thumbnail; the detector shrinks them further.
func outSize(width, height int) (int, int) {
	w, h := width&^1, height&^1
	if w > thumbWidth {
		w, h = thumbWidth, (height*thumbWidth/width)&^1
	}
	return w, h
}

// ffDecode decodes the first video stream of input with an ffmpeg child
// process, delivering frames of w x h BGR with their presentation times to
// fn (on the calling goroutine, while the next frame is being read). It
// returns the frame count and ffmpeg's error lines. When ctx ends, ffmpeg
// is stopped and ffDecode returns after every goroutine it started.
func ffDecode(parent context.Context, input string, w, h int, fn func(m gocv.Mat, t float64)) (int, []string, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "+level+info", "-i", input,
		"-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough",
		"-vf", fmt.Sprintf("scale=%d:%d:flags=fast_bilinear,showinfo=checksum=0", w, h),
		"-pix_fmt", "bgr24", "-f", "rawvideo", "-")
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
		complaint = readShowinfo(ctx, stderr, input, times)
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

func analyzeFFmpeg(parent context.Context, path string, cfg Config) (Result, error) {
	si, err := probeVideo(parent, path)
	if err != nil {
		return Result{Path: path}, err
	}
	a, err := newAnalyzer(path, cfg)
	if err != nil {
		return Result{}, err
	}
	defer a.close()
	w, h := outSize(si.width, si.height)
	n, complaint, err := ffDecode(parent, path, w, h, a.feed)
	if err != nil {
		return Result{Path: path}, err
	}
	res := a.finish()
	res.Frames = n
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

// eachRawFrame reads packed BGR frames of w x h from r on its own goroutine
// while fn analyses the one before; it returns the number of frames read.
func eachRawFrame(ctx context.Context, r io.Reader, w, h int, fn func(m gocv.Mat)) int {
	free := make(chan gocv.Mat, pipelineDepth+1)
	for range pipelineDepth + 1 {
		free <- gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
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
