package appliance

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/testkit"
)

// The dashboard says what staff need at a glance: when each camera's last
// segment was sealed (a time, not a digest), and that the sync queue is
// empty when nothing waits, rather than a blank panel.
func TestDashboardShowsLastSegmentTimeAndEmptyQueue(t *testing.T) {
	srv := testkit.StartRTSP(t)
	srv.Publish(t, "yard", filepath.Join(testFootage, "static-room.mp4"))
	d, base := startDaemon(t, func(c *config.Config) {
		c.Cameras = []rtsp.Config{{ID: "yard", URL: srv.URL("yard"), SegmentLength: 2 * time.Second,
			SpoolDir: filepath.Join(c.DataDir, "spool")}}
		c.Triage.Enabled, c.Redaction.OnFlag = false, false
		c.Sync.SendAllFrom = nil
		c.ShutdownTimeout = time.Minute // a camera seals its open segment on the way out
	})
	testkit.WaitFor(t, "the camera's first segment", 60*time.Second, func() bool {
		sts := d.CameraStatus()
		return len(sts) == 1 && !sts[0].LastSegmentAt.IsZero()
	})
	addStaff(t, d, "pc-8")
	browser := testkit.Chromium(t)
	c, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	browserSteps(t, c, 0)("dashboard", dashboardLogin(base, "pc-8",
		chromedp.WaitVisible(chromedp.CSS("#cameras .last-segment")),
		chromedp.WaitVisible(chromedp.CSS("#sync .sync-empty")),
	)...)
	text, err := chromedp.Run(c, chromedp.Evaluate[string](`document.querySelector('#cameras .last-segment').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^last segment sealed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d`).MatchString(text) {
		t.Fatalf("camera panel says %q, want the last segment's time", text)
	}
	empty, err := chromedp.Run(c, chromedp.Evaluate[string](`document.querySelector('#sync .sync-empty').textContent`))
	if err != nil || empty != "Queue empty: nothing is waiting to go to central storage." {
		t.Fatalf("sync panel says %q (%v)", empty, err)
	}
}
