package rtsp

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"
)

// relayServer is the camera of these tests: a gortsplib RTSP server that an
// ffmpeg publisher pushes real footage into and recorders read from, one
// stream per path.
type relayServer struct {
	srv        *gortsplib.Server
	addr       string
	user, pass string // reader credentials; empty: none asked
	// wrapAfter, when set, shifts every RTP timestamp so that the 32-bit
	// clock wraps this long after the stream started, as a camera that has
	// been up for a while does every 13 hours.
	wrapAfter time.Duration
	// jumpAfter and jumpBy step the camera's RTP clock once, this long
	// after the stream started, as a camera does after an NTP correction.
	jumpAfter, jumpBy time.Duration
	// dropAfter and dropCount lose video packets once, as a congested
	// network does.
	dropAfter time.Duration
	dropCount int

	mu      sync.Mutex
	streams map[string]*relayStream
	sent    map[string][]sentAU // per path, across publishers
	changed chan struct{}
}

type relayStream struct {
	stream     *gortsplib.ServerStream
	publisher  *gortsplib.ServerSession
	offsets    map[*description.Media]uint32
	video      *description.Media
	videoRate  int
	path       string
	publishing bool
	started    time.Time
	lastRaw    map[*description.Media]uint32
	jumped     map[*description.Media]bool
	dropped    int
}

// sentAU is one video access unit as it left the server.
type sentAU struct {
	ts uint32
	at time.Time
}

func startRelay(t testing.TB, configure func(*relayServer)) *relayServer {
	t.Helper()
	s := &relayServer{streams: map[string]*relayStream{}, sent: map[string][]sentAU{}, changed: make(chan struct{})}
	if configure != nil {
		configure(s)
	}
	// A port found free can be taken by another test package before the
	// server binds it; try a few.
	var err error
	for range 5 {
		s.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		s.srv = &gortsplib.Server{Handler: s, RTSPAddress: s.addr}
		if err = s.srv.Start(); err == nil {
			t.Cleanup(s.srv.Close)
			return s
		}
	}
	t.Fatalf("start rtsp server: %v", err)
	return nil
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *relayServer) url(path string) string { return "rtsp://" + s.addr + "/" + path }

func (s *relayServer) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitPublished blocks until a publisher streams on path.
func (s *relayServer) waitPublished(t testing.TB, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		st := s.streams[path]
		ok := st != nil && st.publishing
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no publisher on %s after %v", path, timeout)
		}
	}
}

// sentFromTo counts the video access units sent on path from the one with
// RTP timestamp first to the one with last, both included, in the order
// they were sent (decode order).
func (s *relayServer) sentFromTo(path string, first, last uint32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := -1
	for i, a := range s.sent[path] {
		if a.ts == first && start < 0 {
			start = i
		}
		if a.ts == last && start >= 0 {
			return i - start + 1
		}
	}
	return -1
}

// firstSentAfter is when the first video access unit after t left for
// readers on path.
func (s *relayServer) firstSentAfter(path string, t time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.sent[path] {
		if a.at.After(t) {
			return a.at
		}
	}
	return time.Time{}
}

func (s *relayServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for path, st := range s.streams {
		if st.publisher == ctx.Session {
			st.stream.Close()
			delete(s.streams, path)
			s.notify()
		}
	}
}

func (s *relayServer) authorized(c *gortsplib.ServerConn, req *base.Request) bool {
	return s.user == "" || c.VerifyCredentials(req, s.user, s.pass)
}

func (s *relayServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !s.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[strings.TrimPrefix(ctx.Path, "/")]
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st.stream, nil
}

func (s *relayServer) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.streams[strings.TrimPrefix(ctx.Path, "/")]; old != nil {
		old.stream.Close()
		old.publisher.Close()
	}
	st := &relayStream{
		stream:    &gortsplib.ServerStream{Server: s.srv, Desc: ctx.Description},
		publisher: ctx.Session,
		offsets:   map[*description.Media]uint32{},
		lastRaw:   map[*description.Media]uint32{},
		jumped:    map[*description.Media]bool{},
		path:      strings.TrimPrefix(ctx.Path, "/"),
	}
	if err := st.stream.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, err
	}
	for _, m := range ctx.Description.Medias {
		if m.Type == description.MediaTypeVideo && st.video == nil {
			st.video = m
			st.videoRate = m.Formats[0].ClockRate()
		}
	}
	s.streams[strings.TrimPrefix(ctx.Path, "/")] = st
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (s *relayServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if !s.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[strings.TrimPrefix(ctx.Path, "/")]
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st.stream, nil
}

func (s *relayServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (s *relayServer) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	s.mu.Lock()
	st := s.streams[strings.TrimPrefix(ctx.Path, "/")]
	s.mu.Unlock()
	ctx.Session.OnPacketRTPAny(func(m *description.Media, f format.Format, pkt *rtp.Packet) {
		s.relay(st, m, f, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (s *relayServer) relay(st *relayStream, m *description.Media, f format.Format, pkt *rtp.Packet) {
	s.mu.Lock()
	off, ok := st.offsets[m]
	if !ok {
		if s.wrapAfter > 0 {
			lead := uint32(s.wrapAfter.Seconds() * float64(f.ClockRate()))
			off = (0 - lead) - pkt.Timestamp
		}
		st.offsets[m] = off
	}
	if st.started.IsZero() {
		st.started = time.Now()
	}
	// Step the clock only between access units, never inside one.
	if s.jumpAfter > 0 && !st.jumped[m] && time.Since(st.started) > s.jumpAfter && pkt.Timestamp != st.lastRaw[m] {
		st.jumped[m] = true
		off += uint32(int64(s.jumpBy.Seconds() * float64(f.ClockRate())))
		st.offsets[m] = off
	}
	st.lastRaw[m] = pkt.Timestamp
	if m == st.video && s.dropAfter > 0 && time.Since(st.started) > s.dropAfter && st.dropped < s.dropCount {
		st.dropped++
		s.mu.Unlock()
		return
	}
	pkt.Timestamp += off
	if m == st.video {
		sent := s.sent[st.path]
		if n := len(sent); n == 0 || sent[n-1].ts != pkt.Timestamp {
			s.sent[st.path] = append(sent, sentAU{ts: pkt.Timestamp, at: time.Now()})
		}
		if !st.publishing {
			st.publishing = true
			s.notify()
		}
	}
	s.mu.Unlock()
	st.stream.WritePacketRTP(m, pkt)
}

// publisher is a real ffmpeg pushing a clip, looped, at its own pace.
type publisher struct {
	cmd *exec.Cmd
}

// servedClip starts a relay (configured by configure, may be nil) and an
// ffmpeg publisher looping clip into it at "cam", and waits until the
// stream is up: the camera most tests record from.
func servedClip(t testing.TB, clip string, configure func(*relayServer)) (*relayServer, *publisher) {
	t.Helper()
	srv := startRelay(t, configure)
	pub := startPublisher(t, clip, srv.url("cam"))
	srv.waitPublished(t, "cam", 15*time.Second)
	return srv, pub
}

func startPublisher(t testing.TB, clip, url string) *publisher {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
		"-re", "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", url)
	cmd.Stderr = &testLogWriter{t: t, prefix: "ffmpeg publisher: "}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ffmpeg publisher: %v", err)
	}
	p := &publisher{cmd: cmd}
	t.Cleanup(p.kill)
	return p
}

func (p *publisher) kill() {
	if p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

type testLogWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
}

func (w *testLogWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line != "" {
			fmt.Fprintln(os.Stderr, w.prefix+line)
		}
	}
	return len(b), nil
}

func footage(name string) string {
	return filepath.Join("..", "..", "testdata", "footage", name)
}

// ffmpegMake runs ffmpeg to derive a clip; it is part of a test's setup.
func ffmpegMake(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}
