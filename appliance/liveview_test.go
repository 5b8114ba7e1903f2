package appliance

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/testkit"
)

// The daemon serves its configured cameras live: the dashboard's Live
// button shows the yard camera beside its recording (two sessions at the
// camera: the recorder's and the live view's); a camera whose only stream
// has B-frames is refused with the reason; a reload that removes the yard
// camera ends its live view, on the record.
func TestLiveViewFromTheDaemon(t *testing.T) {
	srv := testkit.StartRTSP(t)
	srv.Publish(t, "yard", filepath.Join(testFootage, "parking-cars.mp4")) // baseline, keyframe every 4.8 s
	srv.Publish(t, "lobby", filepath.Join(testFootage, "static-room.mp4")) // main profile with B-frames
	d, base := startDaemon(t, func(c *config.Config) {
		c.Cameras = []rtsp.Config{
			{ID: "yard", URL: srv.URL("yard"), SegmentLength: 2 * time.Second, SpoolDir: filepath.Join(c.DataDir, "spool")},
			{ID: "lobby", URL: srv.URL("lobby"), SegmentLength: 2 * time.Second, SpoolDir: filepath.Join(c.DataDir, "spool")},
		}
		c.Triage.Enabled, c.Redaction.OnFlag = false, false
		c.Sync.SendAllFrom = nil
	})
	ctx := context.Background()
	addStaff(t, d, "pc-9")
	browser := testkit.Chromium(t)
	page, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	do := browserSteps(t, page, 0)
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(page, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	do("log in", dashboardLogin(base, "pc-9",
		chromedp.WaitVisible(chromedp.CSS(`#cameras button.live-btn[data-camera="yard"]`)),
		chromedp.Click(chromedp.CSS(`#cameras button.live-btn[data-camera="yard"]`)),
	)...)
	testkit.WaitFor(t, "the yard's first live frame", 15*time.Second, func() bool {
		return eval(`String(window.etLive && window.etLive.firstFrameMs != null)`) == "true"
	})
	if now, _ := srv.Readers("yard"); now != 2 {
		t.Errorf("yard recorded and watched live: %d sessions at the camera, want 2 (recorder, live view)", now)
	}

	do("watch the lobby", chromedp.Click(chromedp.CSS(`#cameras button.live-btn[data-camera="lobby"]`)))
	testkit.WaitFor(t, "the lobby's refusal on the page", 15*time.Second, func() bool {
		return strings.Contains(eval(`document.querySelector('#liveview-error').textContent`), "B-frames")
	})
	do("watch the yard again", chromedp.Click(chromedp.CSS(`#cameras button.live-btn[data-camera="yard"]`)))
	testkit.WaitFor(t, "the yard's live view again", 15*time.Second, func() bool {
		return eval(`String(window.etLive && window.etLive.firstFrameMs != null)`) == "true"
	})

	next := d.cfg
	next.Cameras = next.Cameras[1:]
	if _, err := d.Reload(ctx, next, "user:test"); err != nil {
		t.Fatal(err)
	}
	var stops []evidence.CustodyEvent
	testkit.WaitFor(t, "the removed camera's live view to end", 15*time.Second, func() bool {
		stops = nil
		d.vault.Events(0, func(e evidence.CustodyEvent) bool {
			if e.Action == evidence.ActionLiveViewStop {
				stops = append(stops, e)
			}
			return true
		})
		return len(stops) == 2
	})
	if stops[1].Details["cause"] != "camera's live stream closed" || stops[1].Actor != "user:pc-9" || stops[1].Details["camera"] != "yard" {
		t.Errorf("live view of the removed camera ended with %s %v", stops[1].Actor, stops[1].Details)
	}
}
