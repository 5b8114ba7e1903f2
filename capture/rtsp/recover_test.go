package rtsp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/testkit"
)

// helperEnv makes the test binary act as a daemon that records one camera
// until it is killed; the recovery test SIGKILLs it mid-segment.
const helperEnv = "EDGETRIAGE_RTSP_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "record":
		os.Exit(helperRecord())
	case "relay":
		os.Exit(helperRelay())
	}
	os.Exit(m.Run())
}

func helperRecord() int {
	cfg := Config{ID: "cam1", URL: os.Getenv("HELPER_URL"), SpoolDir: os.Getenv("HELPER_SPOOL"),
		Transport: TransportTCP, SegmentLength: time.Hour}
	r, err := New(cfg, &testVault{dir: os.Getenv("HELPER_VAULT")}, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := r.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func TestRecoverSegmentOfKilledDaemon(t *testing.T) {
	t.Parallel()
	srv, _ := servedClip(t, footage("static-room.mp4"), nil)

	spool := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), helperEnv+"=record", "HELPER_URL="+srv.url("cam"),
		"HELPER_SPOOL="+spool, "HELPER_VAULT="+t.TempDir())
	child.Stderr = &testLogWriter{t: t, prefix: "daemon: "}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	dir := filepath.Join(spool, "cam1")
	var firstSeen time.Time
	testkit.WaitFor(t, "the daemon to write 3s of a segment", 30*time.Second, func() bool {
		parts, _ := filepath.Glob(filepath.Join(dir, "*"+partExt))
		if len(parts) == 1 && firstSeen.IsZero() {
			firstSeen = time.Now()
		}
		return !firstSeen.IsZero() && time.Since(firstSeen) > 3500*time.Millisecond
	})
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	parts, _ := filepath.Glob(filepath.Join(dir, "*"+partExt))
	if len(parts) != 1 {
		t.Fatalf("after SIGKILL the spool holds %v, want one unfinished segment", parts)
	}

	// A second copy whose last fragment was torn half-way, as a power cut
	// during a write would leave it, under another camera.
	tornDir := filepath.Join(spool, "cam2")
	os.MkdirAll(tornDir, 0o700)
	base := strings.TrimSuffix(parts[0], partExt)
	tornBase := filepath.Join(tornDir, filepath.Base(base))
	data, _ := os.ReadFile(parts[0])
	torn := binary.BigEndian.AppendUint32(nil, 4000)
	torn = append(torn, "moof"...)
	torn = append(torn, make([]byte, 100)...)
	os.WriteFile(tornBase+partExt, append(data, torn...), 0o600)
	meta, err := readMeta(base)
	if err != nil {
		t.Fatal(err)
	}
	meta.Camera = "cam2"
	writeMeta(tornBase, meta)

	for _, cam := range []string{"cam1", "cam2"} {
		t.Run(cam, func(t *testing.T) {
			v := newTestVault(t)
			cfg := Config{ID: cam, URL: srv.url("cam"), SpoolDir: spool}
			r, err := New(cfg, v, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Recover(context.Background()); err != nil {
				t.Fatalf("Recover: %v", err)
			}
			items, _ := v.snapshot()
			if len(items) != 1 {
				t.Fatalf("%d items recovered, want 1", len(items))
			}
			it := items[0]
			if !it.HasProblem(evidence.ProblemInterrupted) || it.Source != cam {
				t.Errorf("recovered item %+v is not marked interrupted for %s", it, cam)
			}
			p := probe(t, v.path(it.Digest))
			if msg := decodeErrors(t, v.path(it.Digest)); p.Codec != "h264" || msg != "" {
				t.Errorf("recovered segment does not play: codec %q, %s", p.Codec, msg)
			}
			if got := label(t, it, "frames"); got != int64(p.Frames) || p.Frames < 25 {
				t.Errorf("recovered segment: label says %d frames, decoder counts %d, want >= 25 (3.5s at 10 fps)", got, p.Frames)
			}
			if d := it.CapturedEnd.Sub(it.CapturedStart).Seconds(); d < float64(p.Frames-2)/10 || d > float64(p.Frames+2)/10 {
				t.Errorf("recovered segment claims %.2fs for %d frames at 10 fps", d, p.Frames)
			}
			detail := it.Problems[0].Detail
			if cam == "cam2" && !strings.Contains(detail, fmt.Sprintf("removed %d bytes", len(torn))) {
				t.Errorf("torn fragment not reported: %q", detail)
			}
			if left, _ := os.ReadDir(filepath.Join(spool, cam)); len(left) != 0 {
				t.Errorf("spool still holds %d files after recovery", len(left))
			}
			sealed := v.eventsOf(evidence.ActionSegmentSealed)
			if len(sealed) != 1 || sealed[0].Details["problem"] != evidence.ProblemInterrupted {
				t.Errorf("seal events %+v, want one marked interrupted", sealed)
			}
			v.verify(t)
		})
	}
}

func TestRecoverKeepsUnreadableLeftovers(t *testing.T) {
	spool := t.TempDir()
	dir := filepath.Join(spool, "cam3")
	os.MkdirAll(dir, 0o700)
	// A header cut short, with no metadata: nothing playable, still evidence.
	os.WriteFile(filepath.Join(dir, "20260101T000000.000000000Z-s1-0001"+partExt), []byte("\x00\x00\x00\x20ftypiso5\x00\x00"), 0o600)
	// Run recovers on its own, whether or not the camera answers.
	v := newTestVault(t)
	r, err := New(Config{ID: "cam3", URL: "rtsp://127.0.0.1:1/x", SpoolDir: spool, BackoffMin: 100 * time.Millisecond}, v, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runRecorder(t, r)
	testkit.WaitFor(t, "the leftover to be sealed", 10*time.Second, func() bool { return r.Status().SegmentsSealed == 1 })
	stop()
	items, _ := v.snapshot()
	if len(items) != 1 || !items[0].HasProblem(evidence.ProblemInterrupted) || items[0].Size != 14 {
		t.Fatalf("items %+v, want the 14 bytes sealed as found and marked interrupted", items)
	}
	if !strings.Contains(items[0].Problems[0].Detail, "header") || items[0].Source != "cam3" {
		t.Errorf("item %+v does not say what is wrong or where it came from", items[0])
	}
}

// downVault refuses every ingest while down is set: the vault's disk is
// full or its database is busy, a fault a real vault cannot be made to
// produce on demand from this package.
type downVault struct {
	*testVault
	down atomic.Bool
}

func (v *downVault) IngestFile(ctx context.Context, path string, in evidence.Intake) (evidence.Item, bool, error) {
	if v.down.Load() {
		return evidence.Item{}, false, errors.New("vault unavailable")
	}
	return v.testVault.IngestFile(ctx, path, in)
}

func TestVaultOutageLosesNoSegment(t *testing.T) {
	t.Parallel()
	srv, _ := servedClip(t, footage("static-room.mp4"), nil)
	cfg := testConfig(t, srv.url("cam"))
	dir := filepath.Join(cfg.SpoolDir, "cam1")
	closedInSpool := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "*"+segExt))
		return len(m)
	}

	// The vault is down for a while, then back: segments wait and go in.
	v := &downVault{testVault: newTestVault(t)}
	v.down.Store(true)
	r, err := New(cfg, v, Options{DrainTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := runRecorder(t, r)
	testkit.WaitFor(t, "two segments waiting in the spool", 20*time.Second, func() bool { return closedInSpool() >= 2 })
	if st := r.Status(); st.LastErrorReason != "vault" || !strings.Contains(st.LastError, "vault unavailable") {
		t.Errorf("status does not show the vault error: %+v", st)
	}
	v.down.Store(false)
	testkit.WaitFor(t, "the waiting segments to be sealed", 20*time.Second, func() bool { return r.Status().SegmentsSealed >= 2 })

	// Down again at shutdown: what could not be sealed stays in the spool
	// and the next start seals it, whole, not marked interrupted.
	v.down.Store(true)
	testkit.WaitFor(t, "another segment waiting", 20*time.Second, func() bool { return closedInSpool() >= 1 })
	stop()
	left := closedInSpool()
	if left == 0 {
		t.Fatal("nothing left in the spool to recover")
	}
	sealedBefore, _ := v.snapshot()
	v2 := newTestVault(t)
	r2, err := New(cfg, v2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Recover(context.Background()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	items, _ := v2.snapshot()
	if len(items) != left {
		t.Fatalf("%d segments recovered from %d in the spool", len(items), left)
	}
	for _, it := range items {
		if len(it.Problems) != 0 || it.Labels["frames"] == "" || it.CapturedStart.IsZero() {
			t.Errorf("finished segment recovered as %+v, want it whole with its labels", it)
		}
	}
	all := append(sealedBefore, items...)
	byStart(all)
	for i := 1; i < len(all); i++ {
		if all[i].CapturedStart.Before(all[i-1].CapturedEnd) {
			t.Errorf("segments %d and %d overlap", i-1, i)
		}
	}
	if n, _ := os.ReadDir(dir); len(n) != 0 {
		t.Errorf("spool holds %d files after recovery", len(n))
	}
}
