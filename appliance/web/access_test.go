package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/appliance/web"
)

func TestEveryAPIRouteRefusesWithoutLogin(t *testing.T) {
	f := newFixture(t, web.Config{})
	d := f.master.Digest.String()
	routes := []struct{ method, path string }{
		{"POST", "/api/v1/logout"}, {"GET", "/api/v1/me"}, {"GET", "/api/v1/items"}, {"GET", "/api/v1/items?source=bwv"},
		{"GET", "/api/v1/items/" + d}, {"GET", "/api/v1/items/" + d + "/thumbnail"}, {"POST", "/api/v1/items/" + d + "/export"},
		{"POST", "/api/v1/items/" + d + "/preview"}, {"POST", "/api/v1/items/" + d + "/signoff"}, {"GET", "/api/v1/previews/abc"}, {"POST", "/api/v1/previews/abc/control"},
		{"DELETE", "/api/v1/previews/abc"}, {"GET", "/api/v1/status"}, {"GET", "/api/v1/events"}, {"GET", "/api/v1/no-such-route"},
		{"POST", "/api/v1/devices/usb-1/assign"},
	}
	anon := f.anon(t)
	for _, r := range routes {
		res := anon.do(r.method, r.path, nil, false)
		if body := readAll(res); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without login: %d %s", r.method, r.path, res.StatusCode, body)
		}
	}
	// A made-up session cookie and a made-up bearer token fare no better.
	req, _ := http.NewRequest("GET", f.http.URL+"/api/v1/items", nil)
	req.AddCookie(&http.Cookie{Name: "et_session", Value: "forged"})
	if res, _ := http.DefaultClient.Do(req); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged cookie: %d", res.StatusCode)
	}
	req, _ = http.NewRequest("GET", f.http.URL+"/api/v1/items", nil)
	req.Header.Set("Authorization", "Bearer et_forged")
	if res, _ := http.DefaultClient.Do(req); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged token: %d", res.StatusCode)
	}
	// The dashboard page itself loads (it holds no data).
	if res, _ := http.Get(f.http.URL + "/"); res.StatusCode != http.StatusOK {
		t.Errorf("dashboard page: %d", res.StatusCode)
	}
}

func TestCentralTokenReadsItemsButCannotPreview(t *testing.T) {
	f := newFixture(t, web.Config{})
	secret, _, err := f.web.Auth().AddToken(t.Context(), "user:admin", "central-hq", 0)
	if err != nil {
		t.Fatal(err)
	}
	get := func(method, path string) int {
		req, _ := http.NewRequest(method, f.http.URL+path, strings.NewReader(`{"offer":"v=0"}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := get("GET", "/api/v1/items/"+f.master.Digest.String()); code != http.StatusOK {
		t.Errorf("central reading an item: %d", code)
	}
	if code := get("POST", "/api/v1/items/"+f.master.Digest.String()+"/preview"); code != http.StatusForbidden {
		t.Errorf("central starting a preview: %d", code)
	}
	if code := get("POST", "/api/v1/devices/bwv-0042/assign"); code != http.StatusForbidden {
		t.Errorf("central assigning a device's footage: %d", code)
	}
}

func TestPreviewPolicyAndCSRF(t *testing.T) {
	f := newFixture(t, web.Config{})
	staff := f.login(t, "sam", staffPass)
	inv := f.login(t, "ivy", invPass)
	master := f.master.Digest

	if _, res := staff.startViewer(master, "original", "case 2026/114"); res.StatusCode != http.StatusForbidden {
		t.Errorf("staff asking for the original: %d %s", res.StatusCode, readAll(res))
	} else if body := readAll(res); !strings.Contains(body, "only investigators") {
		t.Errorf("staff refusal does not say why: %s", body)
	}
	if _, res := inv.startViewer(master, "original", "  "); res.StatusCode != http.StatusBadRequest {
		t.Errorf("investigator without reason: %d %s", res.StatusCode, readAll(res))
	} else if body := readAll(res); !strings.Contains(body, "reason") {
		t.Errorf("refusal does not ask for a reason: %s", body)
	}
	if _, res := staff.startViewer(f.plain.Digest, "redacted", ""); res.StatusCode != http.StatusConflict {
		t.Errorf("redacted preview of an item without a redacted copy: %d %s", res.StatusCode, readAll(res))
	} else if body := readAll(res); !strings.Contains(body, "no redacted copy") {
		t.Errorf("refusal does not say there is no redacted copy: %s", body)
	}
	if n := len(eventsOf(t, f.v, master, evidence.ActionPreviewStart)); n != 0 {
		t.Errorf("refused previews left %d preview-start events", n)
	}

	// A state change without the CSRF header is refused even with a valid
	// session cookie, and so is one from another site.
	res := staff.do("POST", "/api/v1/items/"+master.String()+"/preview", map[string]string{"offer": "v=0"}, false)
	if body := readAll(res); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Errorf("POST without CSRF token: %d %s", res.StatusCode, body)
	}
	res = staff.do("POST", "/api/v1/logout", nil, false)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("logout without CSRF token: %d", res.StatusCode)
	}
	readAll(res)
	req, _ := http.NewRequest("POST", f.http.URL+"/api/v1/logout", nil)
	req.Header.Set("X-CSRF-Token", staff.csrf)
	req.Header.Set("Origin", "https://evil.example")
	if res, _ := staff.hc.Do(req); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", res.StatusCode)
	}
	// A form post (not JSON) cannot log anyone in.
	res, _ = http.Post(f.http.URL+"/api/v1/login", "application/x-www-form-urlencoded", strings.NewReader("user=sam&password="+staffPass))
	if res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form login: %d", res.StatusCode)
	}
	// With the token, logout works and the session is gone.
	res = staff.do("POST", "/api/v1/logout", nil, true)
	readAll(res)
	if res = staff.do("GET", "/api/v1/me", nil, false); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("after logout: %d", res.StatusCode)
	}
	readAll(res)
}

// Guesses at the login form are slowed down per address and name after a
// few typos (and locked out after more; see the auth package's tests),
// with one answer whether or not the name exists, and go on the record as
// one summary per address rather than an event each.
func TestWrongPasswordsAreSlowedWithOneAnswerForAnyName(t *testing.T) {
	f := newFixture(t, web.Config{})
	anon := f.anon(t)
	for _, name := range []string{"ivy", "nobody-of-that-name"} {
		for i := range 4 {
			res := anon.do("POST", "/api/v1/login", map[string]string{"user": name, "password": "not-her-password"}, false)
			want := http.StatusUnauthorized
			if i == 3 {
				want = http.StatusTooManyRequests
			}
			if body := readAll(res); res.StatusCode != want {
				t.Fatalf("%s: wrong password %d: %d %s, want %d", name, i+1, res.StatusCode, body, want)
			}
			if want == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
				t.Fatalf("%s: 429 without Retry-After", name)
			}
		}
	}
	// Other accounts are not affected.
	f.login(t, "sam", staffPass)
	if err := f.web.Auth().FlushFailures(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	var summaries []map[string]string
	f.v.Events(0, func(e evidence.CustodyEvent) bool {
		if e.Action == evidence.ActionLogin && e.Details["result"] == "failures" {
			summaries = append(summaries, e.Details)
		}
		return true
	})
	if len(summaries) != 1 || summaries[0]["count"] != "8" || !strings.Contains(summaries[0]["names"], "ivy") {
		t.Fatalf("failed logins on the record: %v", summaries)
	}
}

func TestItemSearch(t *testing.T) {
	f := newFixture(t, web.Config{})
	c := f.login(t, "sam", staffPass)
	search := func(q string) []string {
		res := c.do("GET", "/api/v1/items?"+q, nil, false)
		var body struct {
			Items []web.ItemSummary `json:"items"`
		}
		if res.StatusCode != http.StatusOK {
			t.Fatalf("search %q: %d %s", q, res.StatusCode, readAll(res))
		}
		json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		var out []string
		for _, it := range body.Items {
			out = append(out, it.Source)
			if it.Digest == f.master.Digest && it.RedactedBy != f.redacted.Digest {
				t.Errorf("master's summary does not point at its redacted copy")
			}
		}
		return out
	}
	cases := map[string]string{
		"":                      "cctv-lobby,bwv-0042", // newest first, derived items hidden
		"source=lobby":          "cctv-lobby",
		"officer=pc-1234":       "bwv-0042",
		"flag=person":           "bwv-0042",
		"hold=true":             "",
		"from=2026-03-01T08:00": "cctv-lobby",
		"to=2026-03-01T08:00":   "bwv-0042",
		"from=2026-03-01T07:00&to=2026-03-01T07:45": "bwv-0042",
		"derived=1&officer=pc-1234":                 "bwv-0042,bwv-0042",
	}
	for q, want := range cases {
		if got := strings.Join(search(q), ","); got != want {
			t.Errorf("search %q: got %q, want %q", q, got, want)
		}
	}
	res := c.do("GET", "/api/v1/items?from=yesterday", nil, false)
	if body := readAll(res); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "from") {
		t.Errorf("bad time: %d %s", res.StatusCode, body)
	}
}

func TestItemDetailShowsCustodyAndDerived(t *testing.T) {
	f := newFixture(t, web.Config{})
	c := f.login(t, "sam", staffPass)
	res := c.do("GET", "/api/v1/items/"+f.master.Digest.String(), nil, false)
	var body struct {
		Item    web.ItemSummary         `json:"item"`
		Events  []evidence.CustodyEvent `json:"events"`
		Derived []evidence.Item         `json:"derived"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("detail: %d %v", res.StatusCode, err)
	}
	res.Body.Close()
	if len(body.Events) == 0 || body.Events[0].Action != evidence.ActionIngested || body.Events[0].Actor != "dock:bay-1" {
		t.Errorf("custody events: %+v", body.Events)
	}
	if len(body.Derived) != 1 || body.Derived[0].Digest != f.redacted.Digest {
		t.Errorf("derived items: %+v", body.Derived)
	}
	if res := c.do("GET", "/api/v1/items/"+strings.Repeat("ab", 32), nil, false); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown digest: %d", res.StatusCode)
	}
	res = c.do("POST", "/api/v1/items/"+f.master.Digest.String()+"/export", nil, true)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("staff export: %d", res.StatusCode)
	}
	inv := f.login(t, "ivy", invPass)
	res = inv.do("POST", "/api/v1/items/"+f.master.Digest.String()+"/export", map[string]string{"reason": "case 7"}, true)
	if body := readAll(res); res.StatusCode != http.StatusNotImplemented || !strings.Contains(body, "not available") {
		t.Errorf("export without an exporter: %d %s", res.StatusCode, body)
	}
}

// Export bundles carry original evidence off the appliance: investigators
// only (an admin runs the box, not the case), and only with a reason,
// which goes into the custody chain.
func TestExportIsForInvestigatorsWithAReason(t *testing.T) {
	f := newFixture(t, web.Config{}, func(d *web.Deps) { d.Export = web.BundleExporter(d.Vault) })
	path := "/api/v1/items/" + f.master.Digest.String() + "/export"
	admin := f.login(t, "ada", adminPass)
	if res := admin.do("POST", path, map[string]string{"reason": "curious"}, true); res.StatusCode != http.StatusForbidden {
		t.Fatalf("admin export: %d %s", res.StatusCode, readAll(res))
	}
	inv := f.login(t, "ivy", invPass)
	if res := inv.do("POST", path, map[string]string{}, true); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("export without a reason: %d %s", res.StatusCode, readAll(res))
	}
	res := inv.do("POST", path, map[string]string{"reason": "case 1234, disclosure"}, true)
	if body := readAll(res); res.StatusCode != http.StatusOK || len(body) < int(f.master.Size) {
		t.Fatalf("investigator export: %d, %d bytes", res.StatusCode, len(body))
	}
	evs := eventsOf(t, f.v, f.master.Digest, evidence.ActionExported)
	if len(evs) != 1 || evs[0].Actor != "user:ivy" || evs[0].Details["reason"] != "case 1234, disclosure" {
		t.Fatalf("export events: %+v", evs)
	}
}

func TestRedactionSignOff(t *testing.T) {
	f := newFixture(t, web.Config{}, func(d *web.Deps) { d.Edits = pipeline.NewRedactionEdits(d.Vault) })
	staff := f.login(t, "sam", staffPass)
	inv := f.login(t, "ivy", invPass)
	copyPath := "/api/v1/items/" + f.redacted.Digest.String() + "/signoff"
	if res := staff.do("POST", copyPath, map[string]string{"note": "ok"}, true); res.StatusCode != http.StatusForbidden {
		t.Errorf("staff sign-off: %d", res.StatusCode)
	}
	res := inv.do("POST", "/api/v1/items/"+f.master.Digest.String()+"/signoff", nil, true)
	if body := readAll(res); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("sign-off of a master: %d %s", res.StatusCode, body)
	}
	// The review queue holds one stop: sign-off waits for it.
	res = inv.do("POST", copyPath, map[string]string{"note": "too early"}, true)
	if body := readAll(res); res.StatusCode != http.StatusConflict || !strings.Contains(body, fixtureReviewEntry) {
		t.Fatalf("sign-off with the queue unresolved: %d %s", res.StatusCode, body)
	}
	if evs := eventsOf(t, f.v, f.redacted.Digest, evidence.ActionReviewSignedOff); len(evs) != 0 {
		t.Fatalf("a refused sign-off was recorded: %+v", evs)
	}
	accept := []map[string]any{{"op": "accept", "start_s": 0.5, "end_s": 1.2, "entry": fixtureReviewEntry, "note": "checked frame by frame"}}
	if res := inv.do("PUT", "/api/v1/items/"+f.master.Digest.String()+"/redaction-edits", accept, true); res.StatusCode != http.StatusAccepted {
		t.Fatalf("accept edit: %d %s", res.StatusCode, readAll(res))
	}
	if res := inv.do("POST", copyPath, map[string]string{"note": "all faces covered"}, true); res.StatusCode != http.StatusCreated {
		t.Fatalf("investigator sign-off: %d %s", res.StatusCode, readAll(res))
	}
	evs := eventsOf(t, f.v, f.redacted.Digest, evidence.ActionReviewSignedOff)
	if len(evs) != 1 || evs[0].Actor != "user:ivy" || evs[0].Details["note"] != "all faces covered" || evs[0].Details["master"] != f.master.Digest.String() {
		t.Fatalf("sign-off events: %+v", evs)
	}
	res = staff.do("GET", "/api/v1/items/"+f.master.Digest.String(), nil, false)
	var body struct {
		Reviews map[string][]evidence.CustodyEvent `json:"reviews"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if got := body.Reviews[f.redacted.Digest.String()]; len(got) != 1 {
		t.Fatalf("master's page shows reviews %+v", body.Reviews)
	}
}

func TestThumbnailsServedOnlyForThumbnailItems(t *testing.T) {
	f := newFixture(t, web.Config{})
	thumb, _, err := f.v.IngestFile(t.Context(), footage+"/faces-29-still.png", evidence.Intake{Actor: "triage:motion",
		Source: "bwv-0042", Parent: f.master.Digest, Relation: "thumbnail"})
	if err != nil {
		t.Fatal(err)
	}
	list := func(c *client) []web.ItemSummary {
		res := c.do("GET", "/api/v1/items?officer=pc-1234", nil, false)
		var list struct {
			Items []web.ItemSummary `json:"items"`
		}
		json.NewDecoder(res.Body).Decode(&list)
		res.Body.Close()
		return list.Items
	}
	// A frame of the original shows what the redacted copy hides: staff
	// neither get it offered nor served.
	staff := f.login(t, "sam", staffPass)
	if items := list(staff); len(items) != 1 || !items[0].Thumbnail.IsZero() {
		t.Fatalf("staff's list offers a thumbnail of the original: %+v", items)
	}
	if res := staff.do("GET", "/api/v1/items/"+thumb.Digest.String()+"/thumbnail", nil, false); res.StatusCode != http.StatusForbidden {
		t.Fatalf("staff fetched a thumbnail of the original: %d", res.StatusCode)
	}
	c := f.login(t, "ivy", invPass)
	if items := list(c); len(items) != 1 || items[0].Thumbnail != thumb.Digest {
		t.Fatalf("list does not point at the thumbnail: %+v", items)
	}
	for range 3 {
		res := c.do("GET", "/api/v1/items/"+thumb.Digest.String()+"/thumbnail", nil, false)
		body := readAll(res)
		if res.StatusCode != http.StatusOK || int64(len(body)) < thumb.Size-16 || !strings.HasPrefix(res.Header.Get("Content-Type"), "image/png") {
			t.Fatalf("thumbnail: %d %s, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(body))
		}
	}
	if evs := eventsOf(t, f.v, thumb.Digest, evidence.ActionThumbnailViewed); len(evs) != 1 || evs[0].Actor != "user:ivy" {
		t.Fatalf("three looks at the thumbnail are recorded as %+v, want one event by ivy", evs)
	}
	// The footage itself is not downloadable this way: viewing goes
	// through previews, which are recorded.
	if res := c.do("GET", "/api/v1/items/"+f.master.Digest.String()+"/thumbnail", nil, false); res.StatusCode != http.StatusNotFound {
		t.Fatalf("master bytes through the thumbnail route: %d", res.StatusCode)
	}
}
