package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/web"
)

// loginSteps fill the password form.
func loginSteps(user, pass string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.CSS("#login-user")),
		chromedp.SendKeys(chromedp.CSS("#login-user"), user),
		chromedp.SendKeys(chromedp.CSS("#login-pass"), pass),
		chromedp.Click(chromedp.CSS("#login-btn")),
	}
}

// sendCode types a code into the second step of the login.
func sendCode(code string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.CSS("#login-code")),
		chromedp.SendKeys(chromedp.CSS("#login-code"), code),
		chromedp.Click(chromedp.CSS("#code-btn")),
	}
}

// waitText waits until the element's text contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		got = get(t, ctx, chromedp.Evaluate[string](`(document.querySelector(`+"`"+sel+"`"+`) || {}).textContent || ''`))
		if strings.Contains(got, want) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s says %q, want %q", sel, got, want)
	return ""
}

// An investigator's first login makes them enrol TOTP on the dashboard;
// each later login takes a code from the secret, once.
func TestBrowserEnrolsTOTPAndLogsInWithCode(t *testing.T) {
	f := newFixture(t, web.Config{Auth: auth.Options{MFARequired: []auth.Role{auth.RoleAdmin, auth.RoleInvestigator}}})
	ctx := newBrowser(t)
	items := `a.item[data-digest="` + f.master.Digest.String() + `"]`

	run(t, ctx, "first login", append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(f.http.URL + "/")}, loginSteps("ivy", invPass)...)...)
	run(t, ctx, "enrol", chromedp.WaitVisible(chromedp.CSS("#totp-begin")), chromedp.Click(chromedp.CSS("#totp-begin")),
		chromedp.WaitVisible(chromedp.CSS("#totp-qr")))
	secret := waitText(t, ctx, "#totp-secret", "")
	if qr := get(t, ctx, chromedp.Evaluate[string](`document.querySelector('#totp-qr').src`)); !strings.HasPrefix(qr, "data:image/png;base64,") || len(secret) < 16 {
		t.Fatalf("enrolment shows secret %q and QR %.40s", secret, qr)
	}
	enrolCode, _ := totp.GenerateCode(secret, time.Now())
	run(t, ctx, "confirm", chromedp.SendKeys(chromedp.CSS("#totp-code"), enrolCode), chromedp.Click(chromedp.CSS("#totp-confirm")),
		chromedp.WaitVisible(chromedp.CSS("#recovery")))
	recovery := get(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#recovery-codes li')].map(e => e.textContent)`))
	if len(recovery) != 10 {
		t.Fatalf("recovery codes shown: %v", recovery)
	}
	saveShot(t, "totp-recovery.png", get(t, ctx, chromedp.CaptureScreenshot()))
	run(t, ctx, "on to the dashboard", chromedp.Click(chromedp.CSS("#enrol-done")), chromedp.WaitVisible(chromedp.CSS(items)))

	run(t, ctx, "log out, log in again", append([]chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS("#logout"))}, loginSteps("ivy", invPass)...)...)
	run(t, ctx, "a wrong code", sendCode("000000")...)
	waitText(t, ctx, "#code-error", "wrong or already used code")
	run(t, ctx, "the enrolment's code again", sendCode(enrolCode)...)
	waitText(t, ctx, "#code-error", "wrong or already used code")
	// The next time step's code is within the drift allowed and not used yet.
	fresh, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	run(t, ctx, "a fresh code", append(sendCode(fresh), chromedp.WaitVisible(chromedp.CSS(items)))...)

	run(t, ctx, "log in a third time", append([]chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS("#logout"))}, loginSteps("ivy", invPass)...)...)
	run(t, ctx, "the code used last time", sendCode(fresh)...)
	waitText(t, ctx, "#code-error", "wrong or already used code")
	run(t, ctx, "a recovery code", append(sendCode(recovery[0]), chromedp.WaitVisible(chromedp.CSS(items)))...)

	var logins []string
	f.v.Events(1, func(e evidence.CustodyEvent) bool {
		if e.Actor == "user:ivy" && (e.Action == evidence.ActionLogin || e.Action == evidence.ActionMFAEnrolled) {
			logins = append(logins, string(e.Action)+" "+e.Details["factors"]+e.Details["factor"])
		}
		return true
	})
	want := "mfa-enrolled totp; login password+totp; login password+totp; login password+recovery-code"
	if strings.Join(logins, "; ") != want {
		t.Fatalf("custody events\n got %s\nwant %s", strings.Join(logins, "; "), want)
	}
}

// Where the browser offers WebAuthn (here a virtual authenticator, and the
// dashboard reached as localhost), a person registers a security key and
// logs in with it.
func TestBrowserSecurityKey(t *testing.T) {
	f := newFixture(t, web.Config{})
	ctx := newBrowser(t)
	base := strings.Replace(f.http.URL, "127.0.0.1", "localhost", 1)
	items := `a.item[data-digest="` + f.master.Digest.String() + `"]`
	run(t, ctx, "a virtual security key", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
			Options: &cdpwebauthn.VirtualAuthenticatorOptions{Protocol: cdpwebauthn.AuthenticatorProtocolCtap2,
				Transport: cdpwebauthn.AuthenticatorTransportUsb, HasUserVerification: true, IsUserVerified: true,
				AutomaticPresenceSimulation: true}})
		return err
	}))
	run(t, ctx, "log in with the password",
		append(append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/")}, loginSteps("sam", staffPass)...),
			chromedp.WaitVisible(chromedp.CSS(items)))...)
	run(t, ctx, "register the key", chromedp.Navigate(base+"/#/security"), chromedp.WaitVisible(chromedp.CSS("#webauthn-register")),
		chromedp.SendKeys(chromedp.CSS("#key-name"), "blue key"), chromedp.Click(chromedp.CSS("#webauthn-register")))
	run(t, ctx, "recovery codes", chromedp.WaitVisible(chromedp.CSS("#recovery")), chromedp.Click(chromedp.CSS("#enrol-done")),
		chromedp.WaitVisible(chromedp.CSS(items)))
	run(t, ctx, "log in again", append([]chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS("#logout"))}, loginSteps("sam", staffPass)...)...)
	run(t, ctx, "with the key", chromedp.WaitVisible(chromedp.CSS("#webauthn-login")), chromedp.Click(chromedp.CSS("#webauthn-login")),
		chromedp.WaitVisible(chromedp.CSS(items)))

	var seen []string
	f.v.Events(1, func(e evidence.CustodyEvent) bool {
		if e.Actor == "user:sam" && (e.Action == evidence.ActionLogin || e.Action == evidence.ActionMFAEnrolled) {
			seen = append(seen, string(e.Action)+" "+e.Details["factors"]+e.Details["factor"]+" "+e.Details["key"])
		}
		return true
	})
	want := "login password ; mfa-enrolled webauthn blue key; login password+webauthn blue key"
	if strings.Join(seen, "; ") != want {
		t.Fatalf("custody events\n got %s\nwant %s", strings.Join(seen, "; "), want)
	}
}
