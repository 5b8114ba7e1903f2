package motion

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
	"github.com/pion/rtp"
)

// camServer is the camera of the live tests: a real RTSP server (gortsplib)
// that an ffmpeg publisher pushes real footage into and the live source
// reads from as any RTSP client would.
type camServer struct {
	srv  *gortsplib.Server
	addr string

	mu      sync.Mutex
	streams map[string]*gortsplib.ServerStream
	pubs    map[*gortsplib.ServerSession]string
	first   map[string]time.Time // when the first video packet of the current publisher arrived
}

func startCamServer(t testing.TB) *camServer {
	t.Helper()
	s := &camServer{streams: map[string]*gortsplib.ServerStream{}, pubs: map[*gortsplib.ServerSession]string{},
		first: map[string]time.Time{}}
	var err error
	for range 5 { // a port found free may be taken before we bind it
		l, lerr := net.Listen("tcp", "127.0.0.1:0")
		if lerr != nil {
			t.Fatal(lerr)
		}
		s.addr = l.Addr().String()
		l.Close()
		s.srv = &gortsplib.Server{Handler: s, RTSPAddress: s.addr}
		if err = s.srv.Start(); err == nil {
			t.Cleanup(s.srv.Close)
			return s
		}
	}
	t.Fatalf("start rtsp server: %v", err)
	return nil
}

func (s *camServer) url(path string) string { return "rtsp://" + s.addr + "/" + path }

func (s *camServer) stream(path string) *gortsplib.ServerStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[strings.TrimPrefix(path, "/")]
}

// waitFirstPacket returns when the current publisher's first video packet
// on path reached the server: the moment its clip time 0 went out.
func (s *camServer) waitFirstPacket(t testing.TB, path string) time.Time {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		at := s.first[path]
		s.mu.Unlock()
		if !at.IsZero() {
			return at
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no publisher on %s", path)
	return time.Time{}
}

func (s *camServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if path, ok := s.pubs[ctx.Session]; ok {
		s.streams[path].Close()
		delete(s.streams, path)
		delete(s.pubs, ctx.Session)
		delete(s.first, path)
	}
}

func (s *camServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	st := s.stream(ctx.Path)
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func (s *camServer) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	path := strings.TrimPrefix(ctx.Path, "/")
	st := &gortsplib.ServerStream{Server: s.srv, Desc: ctx.Description}
	if err := st.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.streams[path]; old != nil {
		old.Close()
	}
	s.streams[path] = st
	s.pubs[ctx.Session] = path
	delete(s.first, path)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (s *camServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	st := s.stream(ctx.Path)
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func (s *camServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (s *camServer) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	path := strings.TrimPrefix(ctx.Path, "/")
	st := s.stream(path)
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		if m.Type == description.MediaTypeVideo {
			s.mu.Lock()
			if s.first[path].IsZero() {
				s.first[path] = time.Now()
			}
			s.mu.Unlock()
		}
		st.WritePacketRTP(m, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// publish starts an ffmpeg publisher pushing clip in real time to url; the
// returned func kills it (also done at cleanup).
func publish(t *testing.T, clip, url string, extra ...string) func() {
	t.Helper()
	args := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-re"}, extra...)
	args = append(args, "-i", clip, "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", url)
	cmd := exec.Command("ffmpeg", args...)
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

// publishLoop starts an ffmpeg publisher looping clip into url for as long
// as the test runs, at the lowest priority: it stands for the camera, and
// must not take the cores from what is measured.
func publishLoop(tb testing.TB, clip, url string) {
	tb.Helper()
	cmd := exec.Command("nice", "-n", "19", "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
		"-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", url)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start ffmpeg publisher: %v", err)
	}
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	})
}

func startLiveSource(t *testing.T, id, url string) *LiveSource {
	t.Helper()
	src, err := NewLiveSource(id, url, DefaultConfig(), LiveSourceOptions{BackoffMin: 200 * time.Millisecond, BackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return src
}

func spanString(iv []Interval, origin time.Time) string {
	var b strings.Builder
	for _, i := range iv {
		fmt.Fprintf(&b, "[%.1f..%.1f] ", i.From.Sub(origin).Seconds(), i.To.Sub(origin).Seconds())
	}
	return b.String()
}

// TestLiveSourceReportsOnsetWithinTwoSeconds streams the first two
// entrances of the labelled room clip from a real RTSP server and checks
// that the live source, a real RTSP client, turns motion on within 2 s of
// each labelled entrance (measured from when the server relayed the clip's
// start, so network and decoding delay count), and not in the empty room
// before.
func TestLiveSourceReportsOnsetWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	srv := startCamServer(t)
	publish(t, footage+"room-people-enter-leave.mp4", srv.url("sub"), "-t", "27")
	t0 := srv.waitFirstPacket(t, "sub")
	src := startLiveSource(t, "room", srv.url("sub"))
	labels := loadLabels(t)["room-people-enter-leave.mp4"][:2]
	last := labels[len(labels)-1]
	time.Sleep(time.Until(t0.Add(time.Duration((last.Enter + 3) * float64(time.Second)))))

	got := src.Motion()
	t.Logf("motion %s(s from clip start), watched %s", spanString(got, t0), spanString(src.Watched(), t0))
	for _, l := range labels {
		enter := t0.Add(time.Duration(l.Enter * float64(time.Second)))
		ok := false
		for _, m := range got {
			if !m.From.Before(enter.Add(-500*time.Millisecond)) && !m.From.After(enter.Add(2*time.Second)) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s entering at %.1f s: no onset within 2 s", l.What, l.Enter)
		}
	}
	if len(got) > 0 && got[0].From.Before(t0.Add(5*time.Second)) {
		t.Errorf("motion at %.1f s in the empty room", got[0].From.Sub(t0).Seconds())
	}
	// What the recorder asks: the empty room holds nothing (it is watched
	// from about 4 s on: connecting, the next keyframe, probing, 2 s of
	// learning the scene; later on a busy machine), the first entrance
	// does.
	w := src.Watched()
	if len(w) == 0 || w[0].From.After(t0.Add(5500*time.Millisecond)) {
		t.Fatalf("the source took more than 5.5 s to start watching (watched %s)", spanString(w, t0))
	}
	if src.MotionBetween("room", w[0].From, t0.Add(5500*time.Millisecond)) {
		t.Errorf("MotionBetween: motion reported for the empty room up to 5.5 s (watched %s)", spanString(w, t0))
	}
	if !src.MotionBetween("room", t0.Add(6*time.Second), t0.Add(9*time.Second)) {
		t.Error("MotionBetween: no motion reported for 6-9 s, when the first person walks in")
	}
}

// TestLiveSourceStaticRoomAndCameraDrop streams an empty room: no motion.
// Then the camera drops and comes back: the source reconnects on its own,
// and the stretch it could not watch counts as motion, so a motion-only
// recorder keeps rather than drops what nobody analysed.
func TestLiveSourceStaticRoomAndCameraDrop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clip := filepath.Join(dir, "static-loop.mp4")
	// Forwards then backwards, so the loop has no jump; 24 s.
	ffmpeg(t, "-i", footage+"static-room.mp4", "-filter_complex",
		"[0:v]split[a][b];[b]reverse[r];[a][r]concat=n=2:v=1:a=0,loop=loop=1:size=120:start=0,setpts=N/10/TB,format=yuv420p[out]",
		"-map", "[out]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "20", "-an", clip)
	srv := startCamServer(t)
	kill := publish(t, clip, srv.url("cam"))
	t0 := srv.waitFirstPacket(t, "cam")
	src := startLiveSource(t, "static", srv.url("cam"))
	time.Sleep(time.Until(t0.Add(12 * time.Second)))
	if got := src.Motion(); len(got) > 0 {
		t.Errorf("motion in the empty room: %s", spanString(got, t0))
	}
	if src.MotionBetween("static", t0.Add(7*time.Second), t0.Add(11*time.Second)) {
		t.Errorf("MotionBetween reports motion for the empty room (watched %s)", spanString(src.Watched(), t0))
	}

	kill()
	down := time.Now()
	time.Sleep(3 * time.Second)
	publish(t, clip, srv.url("cam"))
	t1 := srv.waitFirstPacket(t, "cam")
	deadline := time.Now().Add(15 * time.Second)
	for {
		w := src.Watched()
		if n := len(w); n > 0 && w[n-1].From.After(t1) && w[n-1].To.Sub(w[n-1].From) > 3*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no frames after the camera came back (watched %s)", spanString(w, t0))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !src.MotionBetween("static", down.Add(500*time.Millisecond), t1) {
		t.Error("MotionBetween: the stretch the camera was down counts as still; it was never watched")
	}
	if got := src.Motion(); len(got) > 0 {
		t.Errorf("motion in the empty room after reconnecting: %s", spanString(got, t0))
	}
}
