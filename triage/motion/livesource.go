package motion

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gocv.io/x/gocv"

	ff "github.com/edgetriage/edgetriage/media/ffmpeg" // the tests name a helper ffmpeg
)

// LiveSource is the live analysis of one RTSP camera. Its Run keeps an
// ffmpeg RTSP client on the camera's stream (the sub-stream, where the
// camera has one) that decodes it once, at the live analysis rate and a
// thumbnail's size, and hands each picture to the detector (its luma) and
// to the thumbnails (its colour). What it sees is kept, on the appliance
// clock, for as long as History says:
//
//   - Window(from, to) is the triage of a stretch of the camera's time, a
//     sealed segment's: events, tamper alerts, peak thumbnails, and which
//     part of the stretch was watched, so that only what was not needs to
//     be decoded again from the recording.
//   - MotionBetween(id, from, to) answers a motion-only recorder
//     (capture/rtsp's MotionSignal). It fails open: a stretch the source
//     did not watch (the stream was down, ffmpeg was restarting, the
//     daemon had just started) counts as motion, so footage is never
//     dropped because the analysis could not see it.
type LiveSource struct {
	id, url string
	in      ff.Input
	cfg     Config
	opt     LiveSourceOptions
	log     *slog.Logger

	mu      sync.Mutex
	motion  []Interval // motion-active stretches, oldest first; the last may be open
	open    bool       // the last motion interval is still growing
	watched []Interval // stretches covered by analysed frames, oldest first
	last    time.Time  // when the last frame arrived, learning or not
	frames  chan struct{}
	hist    history   // frame by frame, for Window
	pruned  time.Time // when the history was last pruned

	// CPU accounting, for Stats.
	analysed    atomic.Int64
	decoderPID  atomic.Int64 // the running ffmpeg, 0 between sessions
	decodeDone  atomic.Int64 // ns of CPU used by ffmpeg processes that ended
	analysisCPU atomic.Int64 // ns of CPU the analysing thread spent in observe
}

// LiveStats are a live source's counters since it was made.
type LiveStats struct {
	// Frames counts the frames analysed, learning the scene or not.
	Frames int64
	// DecodeCPU is the CPU time (user and system) its ffmpeg decoders
	// used; AnalysisCPU the time the detector and the thumbnails took on
	// the analysing thread (OpenCV running on the calling thread, as the
	// appliance runs it). Together they are what live analysis of the
	// camera costs.
	DecodeCPU, AnalysisCPU time.Duration
}

// Stats returns the source's counters.
func (s *LiveSource) Stats() LiveStats {
	decode := time.Duration(s.decodeDone.Load())
	if pid := s.decoderPID.Load(); pid > 0 {
		decode += procCPU(int(pid))
	}
	return LiveStats{Frames: s.analysed.Load(), DecodeCPU: decode, AnalysisCPU: time.Duration(s.analysisCPU.Load())}
}

// Interval is a stretch of appliance time, both ends included.
type Interval struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// LiveSourceOptions tune a LiveSource; zero values take the defaults.
type LiveSourceOptions struct {
	Logger *slog.Logger // default slog.Default()
	// FPS is the analysis rate. Default: the camera's
	// Config.LiveAnalysisFPS. Onset needs two moving frames, so at 5 it is
	// reported about half a second after motion starts.
	FPS float64
	// Transport is the RTSP transport, "tcp" (default) or "udp".
	Transport string
	// Timeout bounds connecting and the silence tolerated on the stream
	// before ffmpeg is restarted. Default 10s.
	Timeout time.Duration
	// BackoffMin and BackoffMax bound the wait between restarts of ffmpeg;
	// it doubles after every failure, with jitter. Defaults 1s and 30s.
	BackoffMin, BackoffMax time.Duration
	// History is how long motion, coverage and frame statistics are kept;
	// it must exceed the recorder's segment length plus its rolls and the
	// time a segment waits to be sealed. Default 1h.
	History time.Duration
	// Thumbnails bounds how many peak thumbnails (one per second of
	// motion, about 20 KB each) are kept for Window. Default 300.
	Thumbnails int
	// Settle bounds how long MotionBetween and Window wait for the frames
	// of their window's end to be analysed (decoding lags the camera).
	// Default 3s.
	Settle time.Duration
	// OnAlert, if set, receives tamper alerts (lens covered, defocus,
	// camera moved) as they are raised, called from Run. Alert.At is
	// seconds since the current connection's first frame; its Detail names
	// the wall time. Window reports them again, by the stretch they fall
	// in, for the record of the segment: not to be raised twice.
	OnAlert func(cameraID string, a Alert)
}

const (
	// watchGap: frames further apart than this leave the time between
	// them unwatched.
	watchGap     = 2 * time.Second
	maxIntervals = 4096 // per list, whatever History says
)

// NewLiveSource returns the live analysis of camera id read from url;
// cfg is the camera's motion configuration (masks, zones, sensitivity,
// live analysis rate).
func NewLiveSource(id, streamURL string, cfg Config, opt LiveSourceOptions) (*LiveSource, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("motion config of camera %s: %w", id, err)
	}
	if streamURL == "" {
		return nil, fmt.Errorf("camera %s: no stream url", id)
	}
	in, err := ff.Camera(streamURL)
	if err != nil {
		return nil, fmt.Errorf("camera %s: %w", id, err)
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.FPS <= 0 {
		opt.FPS = cfg.LiveAnalysisFPS
	}
	if opt.FPS <= 0 {
		opt.FPS = defaultLiveFPS
	}
	if opt.Transport == "" {
		opt.Transport = "tcp"
	}
	if opt.Transport != "tcp" && opt.Transport != "udp" {
		return nil, fmt.Errorf("camera %s: transport %q must be tcp or udp", id, opt.Transport)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.BackoffMin <= 0 {
		opt.BackoffMin = time.Second
	}
	if opt.BackoffMax < opt.BackoffMin {
		opt.BackoffMax = max(30*time.Second, opt.BackoffMin)
	}
	if opt.History <= 0 {
		opt.History = time.Hour
	}
	if opt.Thumbnails <= 0 {
		opt.Thumbnails = 300
	}
	if opt.Settle <= 0 {
		opt.Settle = 3 * time.Second
	}
	s := &LiveSource{id: id, url: streamURL, in: in, cfg: cfg, opt: opt, frames: make(chan struct{}),
		log: opt.Logger.With("part", "motion-live", "camera", id)}
	s.hist = history{maxThumbs: opt.Thumbnails}
	return s, nil
}

// CameraID is the camera this source watches.
func (s *LiveSource) CameraID() string { return s.id }

// Run watches the camera until ctx ends, restarting ffmpeg with capped,
// jittered backoff whenever the stream fails or stalls. It returns nil
// when ctx ends; it never gives up on the camera.
func (s *LiveSource) Run(ctx context.Context) error {
	s.mu.Lock()
	s.hist.open()
	s.mu.Unlock()
	defer s.retireHistory()
	backoff := s.opt.BackoffMin
	for {
		started := time.Now()
		n, err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if n > 0 && time.Since(started) > s.opt.BackoffMax {
			backoff = s.opt.BackoffMin
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		s.log.Warn("live motion stream ended; reconnecting", "frames", n, "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, s.opt.BackoffMax)
	}
}

// session runs one ffmpeg client until the stream ends, stalls or ctx
// ends, and returns how many frames it analysed.
func (s *LiveSource) session(parent context.Context) (int, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	live, err := NewLive(s.cfg)
	if err != nil {
		return 0, err
	}
	defer live.Close()
	defer s.closeMotion()
	cmd := s.command().Cmd(ctx)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("ffmpeg for camera %s: %w", s.id, err)
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("ffmpeg for camera %s: %w", s.id, err)
	}
	s.decoderPID.Store(int64(cmd.Process.Pid))
	defer func() {
		s.decoderPID.Store(0)
		if ps := cmd.ProcessState; ps != nil {
			s.decodeDone.Add(int64(ps.UserTime() + ps.SystemTime()))
		}
	}()
	// The frames are analysed on this goroutine; keeping it on one thread
	// lets Stats count their CPU time.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// ffmpeg's own socket timeout does not cover a camera that keeps the
	// connection open but stops sending.
	var stalled atomic.Bool
	stall := time.AfterFunc(2*s.opt.Timeout, func() { stalled.Store(true); cancel() })
	defer stall.Stop()
	n, readErr := eachY4M(bufio.NewReaderSize(stdout, 512<<10), func(frame gocv.Mat, h y4mHeader) {
		stall.Reset(s.opt.Timeout)
		y := frame.RowRange(0, h.h)
		defer y.Close()
		cpu := threadCPU()
		s.observe(live, y, frame, time.Now())
		s.analysisCPU.Add(int64(threadCPU() - cpu))
		s.analysed.Add(1)
	})
	cancel()
	_ = cmd.Wait() // killed by cancel or already gone: why it stopped is below
	switch msg := strings.TrimSpace(stderr.String()); {
	case msg != "":
		return n, fmt.Errorf("ffmpeg: %s", cleanMsg(strings.ReplaceAll(msg, s.url, redactURL(s.url)), s.url))
	case stalled.Load():
		return n, fmt.Errorf("no frame for %v", s.opt.Timeout)
	case readErr != nil && !errors.Is(readErr, io.EOF):
		return n, readErr
	}
	return n, errors.New("stream ended")
}

// command decodes the stream once for everything live analysis needs: at
// the analysis rate, no wider than a thumbnail (nor narrower than the
// detector's working height needs), in colour, as a YUV4MPEG2 stream.
func (s *LiveSource) command() *ff.Command {
	return ff.FFmpeg("").Args("-loglevel", "error").Input(s.in,
		"-rtsp_transport", s.opt.Transport,
		"-timeout", strconv.FormatInt(s.opt.Timeout.Microseconds(), 10),
		// ffmpeg otherwise spends seconds probing a stream whose SDP
		// already names the codec and its parameters.
		"-analyzeduration", "100000", "-probesize", "100000",
		"-fflags", "nobuffer", "-flags", "low_delay", "-threads", "1", "-skip_loop_filter", "all").
		Args("-map", "0:v:0", "-an", "-sn", "-dn", "-filter_threads", "1",
			"-vf", fmt.Sprintf("fps=%g,scale=w='trunc(min(iw,max(%d,%d*iw/ih))/2)*2':h=-2:flags=%s", s.opt.FPS, thumbWidth, s.cfg.WorkHeight, grayScale),
			"-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "-flush_packets", "1", "-")
}

// observe feeds one frame (luma, and the whole I420 picture) and updates
// the history.
func (s *LiveSource) observe(live *Live, luma, picture gocv.Mat, at time.Time) {
	active := live.Feed(luma, at)
	alerts := live.TakeAlerts()
	if s.opt.OnAlert != nil {
		for _, a := range alerts {
			s.opt.OnAlert(s.id, a)
		}
	}
	st := live.Last()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = at
	for _, a := range alerts {
		s.hist.alert(at, a)
	}
	// While the detector learns the scene it cannot see motion: that time
	// is not watched.
	if st.Warming {
		return
	}
	if n := len(s.watched); n > 0 && at.Sub(s.watched[n-1].To) <= watchGap {
		s.watched[n-1].To = at
	} else {
		s.watched = append(s.watched, Interval{From: at, To: at})
	}
	s.hist.frame(at, st, picture)
	switch {
	case active && s.open:
		s.motion[len(s.motion)-1].To = at
	case active:
		s.motion = append(s.motion, Interval{From: at, To: at})
		s.open = true
		s.log.Debug("motion onset", "at", at)
	default:
		s.open = false
	}
	// Forget in batches, not a frame at a time: the lists are long.
	if before := at.Add(-s.opt.History); at.Sub(s.pruned) > s.opt.History/10 {
		s.motion = prune(s.motion, before)
		s.watched = prune(s.watched, before)
		s.hist.prune(before)
		s.pruned = at
	}
	close(s.frames)
	s.frames = make(chan struct{})
}

// retireHistory frees the history's frame buffers once Run ends. Triage
// goes on asking Window about the last segments while the daemon drains,
// after its cameras have stopped: the second being filled is made a
// thumbnail first, so nothing asked for later needs the buffers.
func (s *LiveSource) retireHistory() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hist.closeSecond()
	s.hist.close()
}

func (s *LiveSource) closeMotion() {
	s.mu.Lock()
	s.open = false
	s.mu.Unlock()
}

func prune(iv []Interval, before time.Time) []Interval {
	i := 0
	for i < len(iv) && iv[i].To.Before(before) {
		i++
	}
	if len(iv)-i > maxIntervals {
		i = len(iv) - maxIntervals
	}
	if i == 0 {
		return iv
	}
	return slices.Delete(iv, 0, i)
}

// MotionBetween reports whether motion was active on the camera at any
// moment in [from, to], or whether part of that stretch went unwatched
// (fail open). It waits up to Settle for the frames of to to be analysed.
// A camera other than this source's is unknown: true.
func (s *LiveSource) MotionBetween(cameraID string, from, to time.Time) bool {
	if cameraID != s.id {
		return true
	}
	s.waitWatched(to)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.motion {
		if !m.To.Before(from) && !m.From.After(to) {
			return true
		}
	}
	return !covers(s.watched, from, to)
}

// waitWatched waits, at most Settle, until a frame taken at or after t has
// been analysed. It does not wait while no frames are arriving (the stream
// is down): the recorder's sealing should not slow down with it.
func (s *LiveSource) waitWatched(t time.Time) {
	deadline := time.NewTimer(s.opt.Settle)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		done := len(s.watched) > 0 && !s.watched[len(s.watched)-1].To.Before(t) ||
			time.Since(s.last) > watchGap
		ch := s.frames
		s.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			return
		}
	}
}

// covers reports whether one watched interval spans [from, to].
func covers(iv []Interval, from, to time.Time) bool {
	for _, w := range iv {
		if !w.From.After(from) && !w.To.Before(to) {
			return true
		}
	}
	return false
}

// Motion returns the motion intervals still in the history, oldest first;
// the last one may still be growing.
func (s *LiveSource) Motion() []Interval {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.motion)
}

// Watched returns the stretches covered by analysed frames, oldest first.
func (s *LiveSource) Watched() []Interval {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.watched)
}

// threadCPU is the CPU time the calling thread has used.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD, Linux
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a running process's user and system time, from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name in parentheses may hold spaces; the fields after
	// it are utime and stime at positions 12 and 13, in clock ticks.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticksPerSecond
}

// redactURL hides the credentials in a camera URL, for logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// tailBuffer keeps the last few KB written to it: ffmpeg's complaint.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = slices.Clone(t.buf[len(t.buf)-2048:])
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
