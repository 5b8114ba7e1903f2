package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/appliance/web"
)

func decode[T any](t testing.TB, res *http.Response) T {
	t.Helper()
	defer res.Body.Close()
	var v T
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", res.Request.URL.Path, err)
	}
	return v
}

func expect(t testing.TB, res *http.Response, status int, what string) string {
	t.Helper()
	body := readAll(res)
	if res.StatusCode != status {
		t.Fatalf("%s: %d %s, want %d", what, res.StatusCode, body, status)
	}
	return body
}

func actionsOf(t testing.TB, v *vault.Vault, actor evidence.Actor) []string {
	t.Helper()
	var out []string
	v.Events(1, func(e evidence.CustodyEvent) bool {
		if e.Actor == actor && e.Action != evidence.ActionLogin {
			out = append(out, string(e.Action)+" "+e.Details["user"]+e.Details["client"]+" "+e.Details["change"])
		}
		return true
	})
	return out
}

// An admin runs the station's accounts and central tokens from the
// dashboard's API; nobody else can, and every change is on the record.
func TestAdminManagesAccountsAndTokens(t *testing.T) {
	f := newFixture(t, web.Config{})
	ada := f.login(t, "ada", adminPass)
	for _, who := range []*client{f.login(t, "sam", staffPass), f.login(t, "ivy", invPass)} {
		expect(t, who.do("GET", "/api/v1/admin/users", nil, false), http.StatusForbidden, "non-admin listing accounts")
		expect(t, who.do("POST", "/api/v1/admin/tokens", map[string]string{"name": "x"}, true), http.StatusForbidden, "non-admin issuing a token")
	}
	expect(t, ada.do("POST", "/api/v1/admin/users", map[string]string{"name": "bob", "role": "staff", "password": "bobs password 1"}, false),
		http.StatusForbidden, "adding an account without the CSRF token")
	expect(t, ada.do("POST", "/api/v1/admin/users", map[string]string{"name": "bob", "role": "staff", "password": "short"}, true),
		http.StatusBadRequest, "a short password")
	expect(t, ada.do("POST", "/api/v1/admin/users", map[string]string{"name": "bob", "role": "staff", "password": "bobs password 1", "rolle": "x"}, true),
		http.StatusBadRequest, "a misspelt field")
	expect(t, ada.do("POST", "/api/v1/admin/users", map[string]string{"name": "bob", "role": "staff", "password": "bobs password 1"}, true),
		http.StatusCreated, "adding bob")
	expect(t, ada.do("POST", "/api/v1/admin/users", map[string]string{"name": "bob", "role": "admin", "password": "bobs password 1"}, true),
		http.StatusConflict, "adding bob twice")

	bob := f.login(t, "bob", "bobs password 1")
	expect(t, bob.do("GET", "/api/v1/items", nil, false), http.StatusOK, "bob's first look")
	expect(t, ada.do("PATCH", "/api/v1/admin/users/bob", map[string]string{"role": "investigator"}, true), http.StatusOK, "promoting bob")
	expect(t, bob.do("GET", "/api/v1/items", nil, false), http.StatusUnauthorized, "bob's session after his role changed")
	bob = f.login(t, "bob", "bobs password 1")
	expect(t, ada.do("PATCH", "/api/v1/admin/users/bob", map[string]bool{"disabled": true}, true), http.StatusOK, "disabling bob")
	expect(t, bob.do("GET", "/api/v1/items", nil, false), http.StatusUnauthorized, "bob's session after he was disabled")
	res := f.anon(t).do("POST", "/api/v1/login", map[string]string{"user": "bob", "password": "bobs password 1"}, false)
	expect(t, res, http.StatusUnauthorized, "a disabled account logging in")
	expect(t, ada.do("PATCH", "/api/v1/admin/users/ada", map[string]bool{"disabled": true}, true), http.StatusConflict, "ada disabling herself")
	expect(t, ada.do("PATCH", "/api/v1/admin/users/nobody", map[string]string{"password": "a long password"}, true), http.StatusNotFound, "an unknown account")

	users := decode[[]auth.UserInfo](t, ada.do("GET", "/api/v1/admin/users", nil, false))
	if len(users) != 4 || users[1].Name != "bob" || !users[1].Disabled || users[1].Role != auth.RoleInvestigator {
		t.Fatalf("accounts %+v", users)
	}
	if raw := readAll(ada.do("GET", "/api/v1/admin/users", nil, false)); strings.Contains(raw, "argon2id") || strings.Contains(raw, "hash") {
		t.Fatalf("account list shows password hashes: %s", raw)
	}

	issued := decode[map[string]string](t, ada.do("POST", "/api/v1/admin/tokens", map[string]string{"name": "central-hq", "expires": "720h"}, true))
	secret := issued["token"]
	req, _ := http.NewRequest("GET", f.http.URL+"/api/v1/central/changes", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("central with its new token: %v %v", r.StatusCode, err)
	}
	if list := readAll(ada.do("GET", "/api/v1/admin/tokens", nil, false)); !strings.Contains(list, `"central-hq"`) || strings.Contains(list, secret) {
		t.Fatalf("token list %s", list)
	}
	expect(t, ada.do("DELETE", "/api/v1/admin/tokens/central-hq", nil, true), http.StatusNoContent, "revoking")
	if r, _ := http.DefaultClient.Do(req); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("central with a revoked token: %d", r.StatusCode)
	}
	expect(t, ada.do("DELETE", "/api/v1/admin/tokens/central-hq", nil, true), http.StatusNotFound, "revoking twice")

	got := strings.Join(actionsOf(t, f.v, "user:ada"), "; ")
	want := "account-created bob ; account-changed bob role; account-changed bob disabled; token-issued central-hq ; token-revoked central-hq "
	if got != want {
		t.Fatalf("ada's custody events\n got %s\nwant %s", got, want)
	}
}

// Holds and categories are set by investigators and admins, with a reason,
// as record changes in the custody chain.
func TestHoldAndCategory(t *testing.T) {
	f := newFixture(t, web.Config{}, func(d *web.Deps) { d.Categories = func() []string { return []string{"traffic", "major-crime"} } })
	ivy := f.login(t, "ivy", invPass)
	sam := f.login(t, "sam", staffPass)
	hold := "/api/v1/items/" + f.plain.Digest.String() + "/hold"
	category := "/api/v1/items/" + f.plain.Digest.String() + "/category"
	expect(t, sam.do("PUT", hold, map[string]any{"hold": true, "reason": "case 17"}, true), http.StatusForbidden, "staff holding an item")
	expect(t, ivy.do("PUT", hold, map[string]any{"hold": true}, true), http.StatusBadRequest, "a hold without a reason")
	it := decode[evidence.Item](t, ivy.do("PUT", hold, map[string]any{"hold": true, "reason": "case 2026/0417"}, true))
	if !it.Hold {
		t.Fatal("item not on hold")
	}
	expect(t, ivy.do("PUT", category, map[string]any{"category": "trafic", "reason": "rta"}, true), http.StatusBadRequest, "an unknown category")
	it = decode[evidence.Item](t, ivy.do("PUT", category, map[string]any{"category": "major-crime", "reason": "case 2026/0417"}, true))
	if it.Labels[evidence.LabelCategory] != "major-crime" {
		t.Fatalf("category %v", it.Labels)
	}
	list := readAll(ivy.do("GET", "/api/v1/items?hold=true", nil, false))
	if !strings.Contains(list, f.plain.Digest.String()) || strings.Contains(list, f.master.Digest.String()) {
		t.Fatalf("items on hold: %s", list)
	}
	stored, _ := f.v.Item(f.plain.Digest)
	if !stored.Hold || stored.Labels[evidence.LabelCategory] != "major-crime" {
		t.Fatalf("stored record %+v", stored)
	}
	var changes []string
	for _, e := range eventsOf(t, f.v, f.plain.Digest, evidence.ActionRecordChanged) {
		changes = append(changes, string(e.Actor)+" "+e.Details["change"]+" "+e.Details["reason"])
	}
	if strings.Join(changes, "; ") != "user:ivy hold case 2026/0417; user:ivy category case 2026/0417" {
		t.Fatalf("record changes %v", changes)
	}
}

// Logging out, or being disabled, ends what the session holds open: its
// live event stream and its previews (issue 15).
func TestSessionEndStopsEventStreamAndPreview(t *testing.T) {
	for _, how := range []string{"logout", "disabled"} {
		t.Run(how, func(t *testing.T) {
			f := newFixture(t, web.Config{})
			sam := f.login(t, "sam", staffPass)
			res := sam.do("GET", "/api/v1/events", nil, false)
			defer res.Body.Close()
			streamEnded := make(chan struct{})
			go func() {
				buf := make([]byte, 4096)
				for {
					if _, err := res.Body.Read(buf); err != nil {
						close(streamEnded)
						return
					}
				}
			}()
			v, pres := sam.startViewer(f.master.Digest, "", "")
			if v == nil {
				t.Fatalf("start preview: %d %s", pres.StatusCode, readAll(pres))
			}
			defer v.pc.Close()
			v.waitPackets(t, 10, 5*time.Second)

			switch how {
			case "logout":
				expect(t, sam.do("POST", "/api/v1/logout", nil, true), http.StatusOK, "logout")
			case "disabled":
				if err := f.web.Auth().SetDisabled(context.Background(), "user:ada", "sam", true); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-streamEnded:
			case <-time.After(5 * time.Second):
				t.Fatal("the event stream outlived the session")
			}
			deadline := time.Now().Add(5 * time.Second)
			for len(eventsOf(t, f.v, f.master.Digest, evidence.ActionPreviewStop)) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the preview outlived the session")
				}
				time.Sleep(50 * time.Millisecond)
			}
			stop := eventsOf(t, f.v, f.master.Digest, evidence.ActionPreviewStop)[0]
			if stop.Details["cause"] != "viewer's session ended" || stop.Actor != "user:sam" {
				t.Fatalf("preview stop %s %v", stop.Actor, stop.Details)
			}
			before, _ := v.counts()
			time.Sleep(500 * time.Millisecond)
			if after, _ := v.counts(); after > before+5 {
				t.Fatalf("video kept flowing after the session ended: %d then %d packets", before, after)
			}
		})
	}
}

// An investigator must enrol TOTP before doing anything; then every login
// needs a fresh code.
func TestSecondFactorOverTheAPI(t *testing.T) {
	f := newFixture(t, web.Config{Auth: auth.Options{MFARequired: []auth.Role{auth.RoleAdmin, auth.RoleInvestigator}}})
	ivy := f.anon(t)
	me := decode[map[string]any](t, ivy.do("POST", "/api/v1/login", map[string]string{"user": "ivy", "password": invPass}, false))
	if me["stage"] != "enrol" {
		t.Fatalf("first login of an investigator: %v", me)
	}
	ivy.csrfFromJar()
	expect(t, ivy.do("GET", "/api/v1/items", nil, false), http.StatusForbidden, "items before enrolling")
	enr := decode[map[string]string](t, ivy.do("POST", "/api/v1/me/totp", nil, true))
	if !strings.HasPrefix(enr["qr"], "data:image/png;base64,") || enr["secret"] == "" {
		t.Fatalf("enrolment %v", enr)
	}
	code, _ := totp.GenerateCode(enr["secret"], time.Now())
	done := decode[map[string]any](t, ivy.do("POST", "/api/v1/me/totp/confirm", map[string]string{"code": code}, true))
	if codes, _ := done["recovery_codes"].([]any); len(codes) != 10 {
		t.Fatalf("enrolment result %v", done)
	}
	ivy.csrfFromJar()
	expect(t, ivy.do("GET", "/api/v1/items", nil, false), http.StatusOK, "items after enrolling")

	// The next login waits for a code; the enrolment's own code is spent.
	ivy2 := f.anon(t)
	me = decode[map[string]any](t, ivy2.do("POST", "/api/v1/login", map[string]string{"user": "ivy", "password": invPass}, false))
	if me["stage"] != "second-factor" {
		t.Fatalf("login after enrolling: %v", me)
	}
	ivy2.csrfFromJar()
	expect(t, ivy2.do("GET", "/api/v1/items", nil, false), http.StatusForbidden, "items before the code")
	expect(t, ivy2.do("POST", "/api/v1/me/totp", nil, true), http.StatusConflict, "enrolling another secret with the password alone")
	expect(t, ivy2.do("POST", "/api/v1/login/code", map[string]string{"code": "000000"}, true), http.StatusUnauthorized, "a wrong code")
	expect(t, ivy2.do("POST", "/api/v1/login/code", map[string]string{"code": code}, true), http.StatusUnauthorized, "the enrolment's code")
	recovery := done["recovery_codes"].([]any)[0].(string)
	expect(t, ivy2.do("POST", "/api/v1/login/code", map[string]string{"code": recovery}, true), http.StatusOK, "a recovery code")
	ivy2.csrfFromJar()
	expect(t, ivy2.do("GET", "/api/v1/items", nil, false), http.StatusOK, "items after the code")

	// An admin resets a lost phone: the next login must enrol again.
	ada := f.anon(t)
	if me := decode[map[string]any](t, ada.do("POST", "/api/v1/login", map[string]string{"user": "ada", "password": adminPass}, false)); me["stage"] != "enrol" {
		t.Fatalf("admin's first login: %v", me)
	}
	console := httpConsole(t, f)
	expect(t, console.do("DELETE", "/api/v1/admin/users/ivy/mfa", nil, false), http.StatusNoContent, "reset from the console")
	expect(t, ivy2.do("GET", "/api/v1/items", nil, false), http.StatusUnauthorized, "ivy's session after the reset")
	if me := decode[map[string]any](t, f.anon(t).do("POST", "/api/v1/login", map[string]string{"user": "ivy", "password": invPass}, false)); me["stage"] != "enrol" {
		t.Fatalf("login after the reset: %v", me)
	}
	var seen []string
	f.v.Events(1, func(e evidence.CustodyEvent) bool {
		switch e.Action {
		case evidence.ActionMFAEnrolled, evidence.ActionMFAReset:
			seen = append(seen, string(e.Actor)+" "+string(e.Action))
		case evidence.ActionLogin:
			seen = append(seen, string(e.Actor)+" login "+e.Details["factors"])
		}
		return true
	})
	want := "user:ivy mfa-enrolled; user:ivy login password+totp; user:ivy login password+recovery-code; console:root mfa-reset"
	if strings.Join(seen, "; ") != want {
		t.Fatalf("custody events\n got %s\nwant %s", strings.Join(seen, "; "), want)
	}
}

// csrfFromJar picks up the CSRF cookie the server set last.
func (c *client) csrfFromJar() {
	u, _ := http.NewRequest("GET", c.base, nil)
	for _, ck := range c.hc.Jar.Cookies(u.URL) {
		if ck.Name == auth.CSRFCookie {
			c.csrf = ck.Value
		}
	}
}

// httpConsole is the console's admin API over the fixture's vault, as the
// command line uses it with the daemon stopped.
func httpConsole(t testing.TB, f *fixture) *client {
	h := web.AdminHandler(f.v, f.web.Auth(), nil)
	srv := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(web.WithConsoleUser(r.Context(), "root")))
	}))
	return &client{t: t, base: srv, hc: &http.Client{Timeout: 20 * time.Second}}
}

func httptestServer(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
