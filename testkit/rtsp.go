package testkit

// A real camera for tests: a gortsplib RTSP server that an ffmpeg
// publisher pushes a clip into, looped at its own pace, and that recorders
// read from like any IP camera.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// RTSPServer relays each published path to its readers.
type RTSPServer struct {
	srv  *gortsplib.Server
	addr string

	mu      sync.Mutex
	streams map[string]*stream
	readers map[*gortsplib.ServerSession]string // playing readers and the path each reads
	plays   map[string]int                      // PLAYs per path since the server started
}

type stream struct {
	out       *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
	// first is when the publisher's first video packet arrived: the
	// moment its clip's time 0 went out to readers. Zero until then.
	first time.Time
}

// StartRTSP starts a server on a free loopback port; it stops at cleanup.
func StartRTSP(t testing.TB) *RTSPServer {
	t.Helper()
	s := &RTSPServer{streams: map[string]*stream{}, readers: map[*gortsplib.ServerSession]string{}, plays: map[string]int{}}
	var err error
	// A port found free can be taken by another test package before the
	// server binds it; try a few.
	for range 5 {
		s.addr, err = freeAddr()
		if err != nil {
			break
		}
		// A 1080p keyframe at 4 Mbit/s is hundreds of packets; the
		// default queue (256) drops them for a reader on a busy machine.
		s.srv = &gortsplib.Server{Handler: s, RTSPAddress: s.addr, WriteQueueSize: 4096}
		if err = s.srv.Start(); err == nil {
			t.Cleanup(s.srv.Close)
			return s
		}
	}
	t.Fatalf("start rtsp server: %v", err)
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// URL is where readers find path.
func (s *RTSPServer) URL(path string) string { return "rtsp://" + s.addr + "/" + path }

// Publish starts an ffmpeg publisher looping clip into path, stream-copied
// at the clip's own rate, and waits until video flows. The publisher is
// killed at cleanup.
func (s *RTSPServer) Publish(t testing.TB, path, clip string) {
	t.Helper()
	s.start(t, path, clip, nil, []string{"-stream_loop", "-1"})
	s.FirstPacket(t, path)
}

// PublishNiced is Publish with the publisher at the lowest CPU priority
// (nice 19): for benchmarks of many cameras, where the cameras are not
// what is measured and must not take the cores from what is.
func (s *RTSPServer) PublishNiced(t testing.TB, path, clip string) {
	t.Helper()
	s.start(t, path, clip, []string{"nice", "-n", "19"}, []string{"-stream_loop", "-1"})
	s.FirstPacket(t, path)
}

// PublishOnce starts an ffmpeg publisher playing clip once into path in
// real time, with input options such as "-t", "27", and returns without
// waiting (FirstPacket says when it began). kill stops it, as a camera
// that drops off the network; it is also called at cleanup.
func (s *RTSPServer) PublishOnce(t testing.TB, path, clip string, input ...string) (kill func()) {
	t.Helper()
	return s.start(t, path, clip, nil, input)
}

func (s *RTSPServer) start(t testing.TB, path, clip string, prefix, input []string) func() {
	t.Helper()
	args := append(slices.Clone(prefix), "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re")
	args = append(append(args, input...), "-i", clip, "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", s.URL(path))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ffmpeg publisher: %v", err)
	}
	var once sync.Once
	kill := func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		})
	}
	t.Cleanup(kill)
	return kill
}

// FirstPacket waits (up to 20 s) for the first video packet of path's
// current publisher and returns when it reached the server.
func (s *RTSPServer) FirstPacket(t testing.TB, path string) time.Time {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if at := s.first(path); !at.IsZero() {
			return at
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no video from a publisher on %s after 20 s", path)
	return time.Time{}
}

func (s *RTSPServer) first(path string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[path]; st != nil {
		return st.first
	}
	return time.Time{}
}

// Readers says how many RTSP sessions read path now, and how many have
// started playing it since the server started: what a camera would count
// of the clients that connect to it.
func (s *RTSPServer) Readers(path string) (now, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.readers {
		if p == path {
			now++
		}
	}
	return now, s.plays[path]
}

// OnSessionClose ends a path whose publisher left.
func (s *RTSPServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.readers, ctx.Session)
	for path, st := range s.streams {
		if st.publisher == ctx.Session {
			st.out.Close()
			delete(s.streams, path)
		}
	}
}

// OnAnnounce takes a publisher's stream description.
func (s *RTSPServer) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	path := strings.TrimPrefix(ctx.Path, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.streams[path]; old != nil {
		old.out.Close()
		old.publisher.Close()
	}
	st := &stream{out: &gortsplib.ServerStream{Server: s.srv, Desc: ctx.Description}, publisher: ctx.Session}
	if err := st.out.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, fmt.Errorf("announce %s: %w", path, err)
	}
	s.streams[path] = st
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (s *RTSPServer) readable(path string) (*base.Response, *gortsplib.ServerStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[strings.TrimPrefix(path, "/")]
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st.out, nil
}

// OnDescribe serves a published path to a reader.
func (s *RTSPServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return s.readable(ctx.Path)
}

// OnSetup accepts publishers' tracks and readers' subscriptions.
func (s *RTSPServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	return s.readable(ctx.Path)
}

// OnPlay lets a reader start.
func (s *RTSPServer) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	path := strings.TrimPrefix(ctx.Path, "/")
	s.mu.Lock()
	s.readers[ctx.Session] = path
	s.plays[path]++
	s.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord relays a publisher's packets to the path's readers.
func (s *RTSPServer) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	path := strings.TrimPrefix(ctx.Path, "/")
	s.mu.Lock()
	st := s.streams[path]
	s.mu.Unlock()
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		if m.Type == description.MediaTypeVideo {
			s.mu.Lock()
			if st.first.IsZero() {
				st.first = time.Now()
			}
			s.mu.Unlock()
		}
		st.out.WritePacketRTP(m, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}
