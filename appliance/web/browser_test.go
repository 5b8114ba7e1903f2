package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/appliance/status"
	"github.com/edgetriage/edgetriage/appliance/web"
	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/sync/outbox"
	"github.com/edgetriage/edgetriage/testkit"
)

// stationStatus stands in for the dock, camera, sync and health parts,
// which the daemon wires in; the page must render what they report.
type stationStatus struct{}

func (stationStatus) DockStatus() []status.DockBay {
	return []status.DockBay{
		{Bay: "bay-1", State: dock.BayOffloading, Camera: "bwv-0042", Officer: "pc-1234", BytesDone: 3 << 30, BytesTotal: 8 << 30, FilesDone: 12, FilesTotal: 31},
		{Bay: "bay-2", State: dock.BayDone, Camera: "bwv-0017", Officer: "pc-0999"},
		{Bay: "bay-3", State: dock.BaySettling},
	}
}

func (stationStatus) CameraStatus() []status.Camera {
	at := time.Date(2026, 3, 1, 8, 12, 0, 0, time.UTC)
	return []status.Camera{
		{Name: "cctv-lobby", State: rtsp.StateRecording, LastSegment: "2026-03-01T08:41:00Z", Gaps: []status.Gap{}},
		{Name: "cctv-yard", State: rtsp.StateWaiting, Error: "rtsp: connection refused", Gaps: []status.Gap{{Start: at, Reason: "connection refused"}}},
	}
}

func (stationStatus) SyncStatus() *status.Sync {
	return &status.Sync{Pending: 4, InFlight: 1, Rate: 12 << 20, Counts: map[string]int{"queued": 3, "uploading": 1},
		Queue: []status.SyncEntry{{Item: "c98f7f2899e5fae4b96154b17f721e2c", State: string(outbox.StateUploading), BytesDone: 40, BytesTotal: 100}}}
}

func (stationStatus) Alarms() []status.Alarm {
	return []status.Alarm{{Severity: status.SeverityWarning, Message: "disk 81% full (warning at 80%)", Since: time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)}}
}

func newBrowser(t *testing.T) context.Context { return testkit.Chromium(t) }

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for i, a := range actions {
		step, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := chromedp.Do(step, a)
		cancel()
		if err != nil {
			if shot, serr := chromedp.Run(ctx, chromedp.CaptureScreenshot()); serr == nil {
				saveShot(t, "failed.png", shot)
			}
			t.Fatalf("%s, step %d: %v", what, i+1, err)
		}
	}
}

func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(step, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// saveShot keeps a screenshot when WEB_SCREENSHOTS names a directory, for
// a person to look at.
func saveShot(t *testing.T, name string, png []byte) {
	if dir := os.Getenv("WEB_SCREENSHOTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Log(err)
		}
	}
}

// waitFrames polls RTCPeerConnection.getStats (via the page) until the
// browser has decoded a frame.
func waitFrames(t *testing.T, ctx context.Context, within time.Duration) float64 {
	t.Helper()
	deadline := time.Now().Add(within)
	var frames float64
	for time.Now().Before(deadline) {
		frames = get(t, ctx, chromedp.Evaluate[float64](`window.etPreview ? (window.etPreview.framesDecoded || 0) : 0`))
		if frames > 0 {
			return frames
		}
		time.Sleep(50 * time.Millisecond)
	}
	errText, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#preview-error")))
	t.Fatalf("no frame decoded within %s (page error: %q)", within, errText)
	return 0
}

// notBlank says whether an image has picture content: a black, grey or
// empty video element is nearly uniform.
func notBlank(t *testing.T, raw []byte) (float64, bool) {
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	var sum, sq, n float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			l := luma(img, x, y)
			sum += l
			sq += l * l
			n++
		}
	}
	mean := sum / n
	sd := math.Sqrt(sq/n - mean*mean)
	return sd, sd > 8 && mean > 10
}

func luma(img image.Image, x, y int) float64 {
	r, g, b, _ := img.At(x, y).RGBA()
	return (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(b)) / 257
}

func TestBrowserLoginFindItemAndPreview(t *testing.T) {
	f := newFixture(t, web.Config{}, func(d *web.Deps) {
		d.Dock, d.Cameras, d.Sync, d.Health = stationStatus{}, stationStatus{}, stationStatus{}, stationStatus{}
	})
	ctx := newBrowser(t)
	master := f.master.Digest.String()
	itemLink := fmt.Sprintf(`a.item[data-digest="%s"]`, master)

	run(t, ctx, "log in as staff", logIn(f, "sam", staffPass,
		chromedp.WaitVisible(chromedp.CSS(itemLink)),
		chromedp.WaitVisible(chromedp.CSS("#dock .bar > i")),
	)...)
	run(t, ctx, "settle", chromedp.Sleep(300*time.Millisecond))
	dash := get(t, ctx, chromedp.CaptureScreenshot())
	bays := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#dock .row').length`))
	saveShot(t, "dashboard.png", dash)
	if w := get(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 1366 {
		t.Errorf("dashboard is %d px wide: it must fit a 1366x768 station screen", w)
	}
	if bays != 3 {
		t.Errorf("dashboard shows %d dock bays, the dock reports 3", bays)
	}

	run(t, ctx, "open the item and start the redacted preview",
		chromedp.Click(chromedp.CSS(itemLink)),
		chromedp.WaitVisible(chromedp.CSS("#preview-start")),
		chromedp.WaitVisible(chromedp.CSS("#item-events tr:nth-child(2)")),
		chromedp.Click(chromedp.CSS("#preview-start")),
	)
	waitFrames(t, ctx, 5*time.Second)
	run(t, ctx, "let frames render", chromedp.Sleep(400*time.Millisecond))
	shot := get(t, ctx, chromedp.Screenshot(chromedp.CSS("#video")))
	mode := get(t, ctx, chromedp.Evaluate[string](`window.etPreview.mode`))
	saveShot(t, "preview-redacted.png", shot)
	if sd, ok := notBlank(t, shot); !ok {
		t.Errorf("video element looks blank (luma spread %.1f)", sd)
	}
	if mode != "passthrough" {
		t.Errorf("redacted copy (no B-frames) previewed by %s, want passthrough", mode)
	}
	starts := eventsOf(t, f.v, f.master.Digest, evidence.ActionPreviewStart)
	if len(starts) != 1 || starts[0].Actor != "user:sam" || starts[0].Details["variant"] != "redacted" {
		t.Fatalf("custody after the browser preview: %+v", starts)
	}
	page := get(t, ctx, chromedp.CaptureScreenshot())
	run(t, ctx, "stop", chromedp.Click(chromedp.CSS("#preview-stop")))
	saveShot(t, "item.png", page)
	waitEvent(t, f, evidence.ActionPreviewStop, 1)
	if stops := eventsOf(t, f.v, f.master.Digest, evidence.ActionPreviewStop); stops[0].Details["cause"] != "stopped by viewer" {
		t.Errorf("stop button recorded cause %q", stops[0].Details["cause"])
	}

	// The investigator views the original, which has B-frames and so is
	// transcoded with the watermark burned in.
	run(t, ctx, "log in as investigator",
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#login-user")),
		chromedp.SendKeys(chromedp.CSS("#login-user"), "ivy"),
		chromedp.SendKeys(chromedp.CSS("#login-pass"), invPass),
		chromedp.Click(chromedp.CSS("#login-btn")),
		chromedp.WaitVisible(chromedp.CSS("#preview-start")),
		chromedp.SetValue(chromedp.CSS("#variant"), "original"),
		chromedp.SendKeys(chromedp.CSS("#reason"), "case 2026/114"),
		chromedp.Click(chromedp.CSS("#preview-start")),
	)
	waitFrames(t, ctx, 5*time.Second)
	run(t, ctx, "let frames render", chromedp.Sleep(400*time.Millisecond))
	shot = get(t, ctx, chromedp.Screenshot(chromedp.CSS("#video")))
	mode = get(t, ctx, chromedp.Evaluate[string](`window.etPreview.mode`))
	saveShot(t, "preview-original.png", shot)
	saveShot(t, "item-investigator.png", get(t, ctx, chromedp.CaptureScreenshot()))
	if sd, ok := notBlank(t, shot); !ok {
		t.Errorf("original preview looks blank (luma spread %.1f)", sd)
	}
	if mode != "transcode" {
		t.Errorf("original with B-frames previewed by %s, want transcode", mode)
	}
	// Pause, then seek back to the start: the browser keeps decoding the
	// restarted stream.
	run(t, ctx, "pause", chromedp.Click(chromedp.CSS("#pause")), chromedp.Sleep(time.Second))
	paused := get(t, ctx, chromedp.Evaluate[float64](`window.etPreview.framesDecoded`))
	run(t, ctx, "seek to 0", chromedp.SetValue(chromedp.CSS("#seek-to"), "0"), chromedp.Click(chromedp.CSS("#seek")))
	deadline := time.Now().Add(5 * time.Second)
	for get(t, ctx, chromedp.Evaluate[float64](`window.etPreview.framesDecoded`)) < paused+5 {
		if time.Now().After(deadline) {
			t.Fatalf("no frames decoded after pause and seek (stuck at %v)", paused)
		}
		time.Sleep(100 * time.Millisecond)
	}
	starts = eventsOf(t, f.v, f.master.Digest, evidence.ActionPreviewStart)
	if len(starts) != 2 || starts[1].Actor != "user:ivy" || starts[1].Details["reason"] != "case 2026/114" || starts[1].Details["variant"] != "original" {
		t.Fatalf("custody after the original preview: %+v", starts)
	}
}

func waitEvent(t *testing.T, f *fixture, action evidence.Action, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if len(eventsOf(t, f.v, f.master.Digest, action)) >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %d %s events", n, action)
}

// The item page of a redacted copy shows its review queue as a timeline of
// stops over the speech map, and a reviewer steps through it: accepting the
// one stop resolves it, which sign-off waits for.
func TestBrowserReviewQueue(t *testing.T) {
	f := newFixture(t, web.Config{}, func(d *web.Deps) { d.Edits = pipeline.NewRedactionEdits(d.Vault) })
	ctx := newBrowser(t)
	run(t, ctx, "log in as an investigator and open the redacted copy", logIn(f, "ivy", invPass,
		chromedp.WaitVisible(chromedp.CSS("#items")),
		chromedp.Navigate(f.http.URL+"/#/item/"+f.redacted.Digest.String()),
		chromedp.WaitVisible(chromedp.CSS("#item-review .rv-stop")),
	)...)
	run(t, ctx, "settle", chromedp.Sleep(300*time.Millisecond))
	saveShot(t, "review-queue.png", get(t, ctx, chromedp.Screenshot(chromedp.CSS("#item-review"))))
	stops := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#item-review .rv-stop:not(.done)').length`))
	speech := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#item-review .rv-speech').length`))
	if stops != 1 || speech != 2 {
		t.Errorf("timeline shows %d open stops and %d speech spans, want 1 and 2", stops, speech)
	}
	if res := f.login(t, "ivy", invPass).do("POST", "/api/v1/items/"+f.redacted.Digest.String()+"/signoff", nil, true); res.StatusCode != http.StatusConflict {
		t.Errorf("sign-off before the stop is resolved: %d", res.StatusCode)
	}
	run(t, ctx, "accept the stop",
		chromedp.Click(chromedp.CSS(`#item-review button.accept[data-entry="`+fixtureReviewEntry+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#item-review .rv-stop.done")),
	)
	run(t, ctx, "mute the first stretch of speech",
		chromedp.Click(chromedp.CSS(`#item-review button.audio-mute[data-start="0.3"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#item-review button.audio-bleep[data-start="1.9"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#item-review button.audio-mute[data-start="0.3"]`)),
	)
	saveShot(t, "review-queue-accepted.png", get(t, ctx, chromedp.Screenshot(chromedp.CSS("#item-review"))))
	edits, err := pipeline.NewRedactionEdits(f.v).Get(f.master.Digest)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, e := range edits {
		ops = append(ops, fmt.Sprintf("%s %.1f-%.1f %s", e.Op, e.Start, e.End, e.Entry))
	}
	if want := []string{"accept 0.5-1.2 " + fixtureReviewEntry, "mute 0.3-1.1 "}; fmt.Sprint(ops) != fmt.Sprint(want) {
		t.Errorf("stored edits %q, want %q", ops, want)
	}
	if res := f.login(t, "ivy", invPass).do("POST", "/api/v1/items/"+f.redacted.Digest.String()+"/signoff", nil, true); res.StatusCode != http.StatusCreated {
		t.Errorf("sign-off after accepting the only stop: %d %s", res.StatusCode, readAll(res))
	}
}

// A reviewer fixes a stop with boxes instead of accepting it: Remove takes
// out the stop's box over its time, which resolves it; Add takes a box typed
// as "x y w h" (a malformed one is refused on the page and stores nothing).
// Both are stored as edits naming the stop, and sign-off then succeeds.
func TestBrowserReviewBoxEdits(t *testing.T) {
	f := newFixture(t, web.Config{}, func(d *web.Deps) { d.Edits = pipeline.NewRedactionEdits(d.Vault) })
	ctx := newBrowser(t)
	entry := `[data-entry="` + fixtureReviewEntry + `"]`
	run(t, ctx, "log in as an investigator and open the redacted copy", logIn(f, "ivy", invPass,
		chromedp.WaitVisible(chromedp.CSS("#items")),
		chromedp.Navigate(f.http.URL+"/#/item/"+f.redacted.Digest.String()),
		chromedp.WaitVisible(chromedp.CSS("#item-review button.remove-box"+entry+`[data-track="1"]`)),
	)...)
	run(t, ctx, "remove the stop's face box",
		chromedp.Click(chromedp.CSS("#item-review button.remove-box"+entry)),
		chromedp.WaitVisible(chromedp.CSS("#item-review .rv-stop.done")),
		chromedp.WaitVisible(chromedp.CSS("#item-review input.add-box"+entry)),
	)
	if guess := get(t, ctx, chromedp.Evaluate[string](`document.querySelector('#item-review input.add-box').value`)); guess != "193 53 42 42" {
		t.Errorf("add box offers %q, want the stop's box grown by half, 193 53 42 42", guess)
	}
	run(t, ctx, "type a malformed box",
		chromedp.SetValue(chromedp.CSS("#item-review input.add-box"+entry), "12 x 40"),
		chromedp.Click(chromedp.CSS("#item-review button.add-box"+entry)),
		chromedp.WaitVisible(chromedp.CSS("#preview-error")),
	)
	if msg := get(t, ctx, chromedp.Evaluate[string](`document.querySelector('#preview-error').textContent`)); !strings.Contains(msg, `"12 x 40"`) {
		t.Errorf("malformed box: page says %q, want it to name the input", msg)
	}
	if ops := storedEdits(t, f); len(ops) != 1 {
		t.Fatalf("after a malformed box the stored edits are %q, want the removal alone", ops)
	}
	run(t, ctx, "add a box",
		chromedp.SetValue(chromedp.CSS("#item-review input.add-box"+entry), "180 50 60 50"),
		chromedp.Click(chromedp.CSS("#item-review button.add-box"+entry)),
	)
	want := []string{
		"remove 0.5-1.2 {200 60 28 28} " + fixtureReviewEntry,
		"add 0.5-1.2 {180 50 60 50} " + fixtureReviewEntry,
	}
	testkit.WaitFor(t, "both box edits stored", 10*time.Second, func() bool { return len(storedEdits(t, f)) == 2 })
	saveShot(t, "review-box-edits.png", get(t, ctx, chromedp.Screenshot(chromedp.CSS("#item-review"))))
	if ops := storedEdits(t, f); fmt.Sprint(ops) != fmt.Sprint(want) {
		t.Errorf("stored edits %q, want %q", ops, want)
	}
	if res := f.login(t, "ivy", invPass).do("POST", "/api/v1/items/"+f.redacted.Digest.String()+"/signoff", nil, true); res.StatusCode != http.StatusCreated {
		t.Errorf("sign-off after fixing the only stop with boxes: %d %s", res.StatusCode, readAll(res))
	}
}

// storedEdits lists the master's redaction edits as "op start-end box entry".
func storedEdits(t *testing.T, f *fixture) []string {
	t.Helper()
	edits, err := pipeline.NewRedactionEdits(f.v).Get(f.master.Digest)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, e := range edits {
		box := ""
		if e.Box != nil {
			box = fmt.Sprint(*e.Box)
		}
		ops = append(ops, fmt.Sprintf("%s %.1f-%.1f %s %s", e.Op, e.Start, e.End, box, e.Entry))
	}
	return ops
}

// logIn signs in on the login form as user, then does then.
func logIn(f *fixture, user, pass string, then ...chromedp.Action[chromedp.Void]) []chromedp.Action[chromedp.Void] {
	return append([]chromedp.Action[chromedp.Void]{
		chromedp.Navigate(f.http.URL + "/"),
		chromedp.WaitVisible(chromedp.CSS("#login-user")),
		chromedp.SendKeys(chromedp.CSS("#login-user"), user),
		chromedp.SendKeys(chromedp.CSS("#login-pass"), pass),
		chromedp.Click(chromedp.CSS("#login-btn")),
	}, then...)
}
