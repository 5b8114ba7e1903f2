package appliance

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgetriage/edgetriage/appliance/auth"
)

// staffPassword is the password of every account addStaff makes.
const staffPassword = "a long enough password"

// addStaff makes a station staff account on d, as an admin would.
func addStaff(t *testing.T, d *Daemon, name string) {
	t.Helper()
	if err := d.auth.AddUser(context.Background(), "appliance:test", name, auth.RoleStaff, staffPassword); err != nil {
		t.Fatal(err)
	}
}

// dashboardLogin signs the staff account name in on the dashboard at base
// through its form, then does then (what the test waits for next).
func dashboardLogin(base, name string, then ...chromedp.Action[chromedp.Void]) []chromedp.Action[chromedp.Void] {
	return append([]chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/"),
		chromedp.WaitVisible(chromedp.CSS("#login-user")),
		chromedp.SendKeys(chromedp.CSS("#login-user"), name),
		chromedp.SendKeys(chromedp.CSS("#login-pass"), staffPassword),
		chromedp.Click(chromedp.CSS("#login-btn")),
	}, then...)
}

// browserSteps returns step, which does actions in page in order and fails
// the test naming what did not happen; each action gets at most
// perAction (0: page's own deadline alone).
func browserSteps(t *testing.T, page context.Context, perAction time.Duration) func(what string, actions ...chromedp.Action[chromedp.Void]) {
	return func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		for _, a := range actions {
			c, cancel := page, context.CancelFunc(func() {})
			if perAction > 0 {
				c, cancel = context.WithTimeout(page, perAction)
			}
			err := chromedp.Do(c, a)
			cancel()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
	}
}
