package appliance

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/testkit"
	"github.com/edgetriage/edgetriage/triage/motion"
)

// A clip flagged by a triage rule is found on the dashboard by that flag:
// its chip is offered, and choosing it lists the flagged clip and not the
// quiet one (the dashboard once read labels triage never wrote).
func TestTriageFlagIsFoundByTheDashboardsFlagFilter(t *testing.T) {
	d, base := startDaemon(t, func(c *config.Config) {
		c.Triage.Flag = motion.FlagRules{LongerThan: motion.Duration(2 * time.Second)}
		c.Redaction.OnFlag = false
	})
	ctx := context.Background()
	ingest := func(name string) evidence.Item {
		it, _, err := d.vault.IngestFile(ctx, filepath.Join(testFootage, name), evidence.Intake{Source: "yard", OriginalName: name})
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	busy, quiet := ingest("parking-cars.mp4"), ingest("static-room.mp4")
	testkit.WaitFor(t, "both clips to be triaged", 180*time.Second, func() bool {
		_, a := triaged(d, busy.Digest)
		_, b := triaged(d, quiet.Digest)
		return a && b
	})
	if it, _ := d.vault.Item(busy.Digest); it.Labels[evidence.LabelFlagPrefix+"long event"] == "" {
		t.Fatalf("the busy clip was not flagged by the long-event rule: %v", it.Labels)
	}
	addStaff(t, d, "pc-7")

	browser := testkit.Chromium(t)
	busyRow := fmt.Sprintf(`a.item[data-digest="%s"]`, busy.Digest)
	quietRow := fmt.Sprintf(`a.item[data-digest="%s"]`, quiet.Digest)
	step := browserSteps(t, browser, 20*time.Second)
	step("log in and see both clips", dashboardLogin(base, "pc-7",
		chromedp.WaitVisible(chromedp.CSS(busyRow)),
		chromedp.WaitVisible(chromedp.CSS(quietRow)),
	)...)
	step("choose the flag chip",
		chromedp.WaitVisible(chromedp.CSS("#flag-chips button")),
		chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#flag-chips button')].find(b => b.textContent.startsWith('long event')).click()`),
		chromedp.WaitNotPresent(chromedp.CSS(quietRow)),
		chromedp.WaitVisible(chromedp.CSS(busyRow)),
	)
	c, cancel := context.WithTimeout(browser, 20*time.Second)
	defer cancel()
	rows, err := chromedp.Run(c, chromedp.Evaluate[int](`document.querySelectorAll('#items a.item').length`))
	if err != nil || rows != 1 {
		t.Fatalf("the flag filter lists %d items (%v), want the flagged clip alone", rows, err)
	}
	tags, err := chromedp.Run(c, chromedp.Evaluate[string](`document.querySelector('`+busyRow+` .flag').textContent`))
	if err != nil || tags != "long event" {
		t.Fatalf("the flagged clip's tag reads %q (%v)", tags, err)
	}
}
