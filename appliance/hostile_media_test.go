package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/testkit"
)

// openWatch reports every open or read of the watched files, by anyone.
type openWatch struct {
	fd    int
	names map[int]string
}

func watchOpens(t *testing.T, paths ...string) *openWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	w := &openWatch{fd: fd, names: map[int]string{}}
	for _, p := range paths {
		wd, err := unix.InotifyAddWatch(fd, p, unix.IN_OPEN|unix.IN_ACCESS)
		if err != nil {
			t.Fatalf("watch %s: %v", p, err)
		}
		w.names[wd] = p
	}
	return w
}

// opened drains the events so far and names the files they were on.
func (w *openWatch) opened() []string {
	var out []string
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(w.fd, buf)
		if n <= 0 || err != nil {
			return out
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			out = append(out, w.names[int(ev.Wd)])
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

// sentinelClip is real footage with motion, cars and a known size: read
// into any result, it would change it (a video stream of 768x432, motion
// events, thumbnails, frames in a redacted copy or a preview).
func sentinelClip(t *testing.T, path string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o750)
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", filepath.Join(testFootage, "parking-cars.mp4"),
		"-c", "copy", "-f", "mpegts", path).CombinedOutput()
	if err != nil {
		t.Fatalf("make sentinel: %v: %s", err, out)
	}
}

// A docked camera's CLIP0001.MP4 is an HLS playlist that names another
// camera's footage by absolute path and a file beside the vault's copy of
// it. Through the whole path (offload and the vault's probe, triage,
// redaction of the flagged clip, an investigator's preview) no process
// opens either file, and the clip is kept, hashed and marked with the
// refusal. Without media/ffmpeg's refusal, ffprobe alone reads both.
func TestPlaylistNamedLikeAClipReadsNoOtherFile(t *testing.T) {
	var dockRoot, dataDir string
	d, base := startDaemon(t, func(c *config.Config) {
		dockRoot, dataDir = c.Dock.Root, c.DataDir
		c.Dock.RescanInterval = 200 * time.Millisecond
	})
	other := filepath.Join(t.TempDir(), "other-camera", "CLIP0042.ts")
	sentinelClip(t, other)
	playlist := []byte("#EXTM3U\n#EXT-X-TARGETDURATION:31\n#EXTINF:30.0,\n" + other + "\n#EXTINF:30.0,\nbeside.ts\n#EXT-X-ENDLIST\n")
	digest := evidence.DigestBytes(playlist)
	// "beside.ts" resolves next to whatever path the reader was given: the
	// vault's temp copy at ingest, the object file afterwards.
	besideTmp := filepath.Join(dataDir, "tmp", "beside.ts")
	besideObject := filepath.Join(filepath.Dir(d.vault.ObjectPath(digest)), "beside.ts")
	sentinelClip(t, besideTmp)
	sentinelClip(t, besideObject)
	watch := watchOpens(t, other, besideTmp, besideObject)

	staging := filepath.Join(t.TempDir(), "bay-7")
	os.MkdirAll(filepath.Join(staging, "DCIM", "100BWC"), 0o755)
	os.WriteFile(filepath.Join(staging, "DCIM", "100BWC", "CLIP0001.MP4"), playlist, 0o644)
	os.WriteFile(filepath.Join(staging, "device.json"), []byte(`{"serial":"BWC3-000999","model":"BWC-3","firmware":"1.2.0","battery":"80","officer":"PC 99"}`), 0o644)
	if err := os.Rename(staging, filepath.Join(dockRoot, "bay-7")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "bay-7 to finish offloading", 60*time.Second, func() bool {
		for _, b := range d.DockStatus().Bays {
			if b.Bay == "bay-7" && b.State == dock.BayDone {
				return true
			}
		}
		return false
	})

	// Kept, hashed, marked; the probe holds nothing of the sentinels.
	it, err := d.vault.Item(digest)
	if err != nil {
		t.Fatalf("the playlist was not kept: %v", err)
	}
	if it.Media.VideoCodec != "" || it.Media.Width != 0 || it.Media.Duration != 0 || !strings.Contains(it.Media.Error, "refused") {
		t.Fatalf("probe of the playlist: %+v", it.Media)
	}
	if !hasProblemContaining(it, evidence.ProblemUndecodable, "HLS") {
		t.Fatalf("not marked with the refusal: %+v", it.Problems)
	}

	// Triage: refused, no events, no thumbnails.
	testkit.WaitFor(t, "the playlist to be triaged", 60*time.Second, func() bool { _, ok := triaged(d, digest); return ok })
	if e, _ := triaged(d, digest); e.Details["result"] != "undecodable" || !strings.Contains(e.Details["error"], "refused") {
		t.Errorf("triage event %v", e.Details)
	}

	// Redaction of the flagged clip: refused, no redacted copy.
	if _, err := pipeline.Flag(context.Background(), d.vault, digest, "user:sgt", "incident 7"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the redaction attempt", 60*time.Second, func() bool {
		evs, _ := d.vault.ItemEvents(digest)
		for _, e := range evs {
			if e.Action == evidence.ActionRedacted {
				return true
			}
		}
		return false
	})
	evs, _ := d.vault.ItemEvents(digest)
	for _, e := range evs {
		if e.Action == evidence.ActionRedacted && (e.Details["result"] != "failed" || !strings.Contains(e.Details["error"], "refused")) {
			t.Errorf("redaction event %v", e.Details)
		}
	}
	d.vault.Items(func(x evidence.Item) bool {
		if x.Parent == digest {
			t.Errorf("an item was derived from the playlist: %+v", x)
		}
		return true
	})

	// Preview of the original by an investigator: refused before any
	// decoder starts.
	code, body := startPreviewOf(t, d, base, digest)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "refused") {
		t.Fatalf("preview: %d %s", code, body)
	}

	if opened := watch.opened(); len(opened) != 0 {
		t.Fatalf("sentinel files were opened: %v", opened)
	}
	// The sentinels are real bait: a bare ffmpeg reading the stored bytes
	// opens both the other camera's clip and the file beside the object.
	exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", d.vault.ObjectPath(digest), "-c", "copy", "-f", "null", "-").Run()
	opened := strings.Join(watch.opened(), " ")
	if !strings.Contains(opened, other) || !strings.Contains(opened, besideObject) {
		t.Fatalf("a bare ffmpeg opened %q: the sentinels prove nothing", opened)
	}
}

func hasProblemContaining(it evidence.Item, code, text string) bool {
	for _, p := range it.Problems {
		if p.Code == code && strings.Contains(p.Detail, text) {
			return true
		}
	}
	return false
}

// startPreviewOf asks for a preview of the original as an investigator.
func startPreviewOf(t *testing.T, d *Daemon, base string, digest evidence.Digest) (int, string) {
	t.Helper()
	ctx := context.Background()
	if err := d.auth.AddUser(ctx, "appliance:test", "det-hale", auth.RoleInvestigator, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	s, err := d.auth.Login(ctx, "det-hale", "a long enough password", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n"
	body, _ := json.Marshal(map[string]string{"offer": offer, "variant": "original", "reason": "incident 7"})
	req, _ := http.NewRequest("POST", base+"/api/v1/items/"+digest.String()+"/preview", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", s.CSRF)
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: s.Token})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
