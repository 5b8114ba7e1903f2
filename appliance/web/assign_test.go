package web_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/appliance/web"
)

// Footage of a camera that described nothing is stored under the device's
// USB serial with nobody named; staff name the officer and camera
// afterwards. Every item of that device, and what was derived from it (a
// thumbnail here), gets them,
// each as a custody event saying who assigned what over what; other
// devices' items are untouched, bad requests change nothing, and the vault
// still verifies.
func TestAssignUnidentifiedDevice(t *testing.T) {
	f := newFixture(t, web.Config{})
	ctx := t.Context()
	const device = "usb-0781_5567_4C530001"
	unidentified := evidence.Intake{Actor: "dock:1-1.3", Source: device,
		Labels: map[string]string{"unidentified": "usb-serial", "bay": "1-1.3"}}
	clip, _, err := f.v.IngestFile(ctx, filepath.Join(footage, "store-aisle.mp4"), unidentified)
	if err != nil {
		t.Fatal(err)
	}
	copyIn := unidentified
	copyIn.Labels, copyIn.Actor, copyIn.Parent, copyIn.Relation = nil, "triage:motion", clip.Digest, "thumbnail"
	thumb, _, err := f.v.IngestFile(ctx, filepath.Join(footage, "faces-29-still.png"), copyIn)
	if err != nil {
		t.Fatal(err)
	}
	staff := f.login(t, "sam", staffPass)
	path := "/api/v1/devices/" + device + "/assign"

	for _, bad := range []struct {
		path string
		body any
		code int
		says string
	}{
		{path, map[string]string{"camera": "BWC-7"}, http.StatusBadRequest, "officer is required"},
		{path, map[string]string{"officer": "PC 1\nPC 2"}, http.StatusBadRequest, "officer must be one line"},
		{path, "not an object", http.StatusBadRequest, "body must be JSON"},
		{"/api/v1/devices/usb-nobody/assign", map[string]string{"officer": "PC 1"}, http.StatusNotFound, "usb-nobody"},
		// An identified camera's footage is not reassigned this way.
		{"/api/v1/devices/bwv-0042/assign", map[string]string{"officer": "PC 1"}, http.StatusNotFound, "bwv-0042"},
	} {
		res := staff.do("POST", bad.path, bad.body, true)
		if body := readAll(res); res.StatusCode != bad.code || !strings.Contains(body, bad.says) {
			t.Errorf("POST %s %v: %d %s; want %d naming %q", bad.path, bad.body, res.StatusCode, body, bad.code, bad.says)
		}
	}
	if res := staff.do("POST", path, map[string]string{"officer": "PC 1234"}, false); res.StatusCode != http.StatusForbidden {
		t.Errorf("assign without the CSRF token: %d", res.StatusCode)
	}
	if n := len(eventsOf(t, f.v, clip.Digest, evidence.ActionRecordChanged)); n != 0 {
		t.Fatalf("refused requests wrote %d events", n)
	}

	if res := staff.do("POST", path, map[string]string{"officer": "PC 1234", "camera": "BWC-7"}, true); res.StatusCode != http.StatusOK {
		t.Fatalf("assign: %d %s", res.StatusCode, readAll(res))
	}
	if res := staff.do("POST", path, map[string]string{"officer": "PC 4321", "camera": "BWC-7"}, true); res.StatusCode != http.StatusOK {
		t.Fatalf("corrected assignment: %d %s", res.StatusCode, readAll(res))
	}
	for _, d := range []evidence.Digest{clip.Digest, thumb.Digest} {
		it, err := f.v.Item(d)
		if err != nil {
			t.Fatal(err)
		}
		if it.Officer != "PC 4321" || it.Labels["camera"] != "BWC-7" {
			t.Errorf("%s after assignment: officer %q, camera %q", d.Short(), it.Officer, it.Labels["camera"])
		}
		evs := eventsOf(t, f.v, d, evidence.ActionRecordChanged)
		if len(evs) != 2 {
			t.Fatalf("%s: %d record-changed events, want 2", d.Short(), len(evs))
		}
		first, second := evs[0].Details, evs[1].Details
		if evs[0].Actor != "user:sam" || first["change"] != "device-assigned" || first["device"] != device ||
			first["officer"] != "PC 1234" || first["previous_officer"] != "" {
			t.Errorf("first assignment event: %s %+v", evs[0].Actor, first)
		}
		if second["officer"] != "PC 4321" || second["previous_officer"] != "PC 1234" || second["previous_camera"] != "BWC-7" {
			t.Errorf("correcting event: %+v", second)
		}
	}
	for _, d := range []evidence.Digest{f.master.Digest, f.plain.Digest} {
		if n := len(eventsOf(t, f.v, d, evidence.ActionRecordChanged)); n != 0 {
			t.Errorf("another device's item %s changed %d times", d.Short(), n)
		}
	}
	rep, err := f.v.Verify(ctx, vault.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("verify after assignments: %v %v", rep.Findings, err)
	}
}

// Staff assign an unidentified device from its item's page: the form shows
// only on such items, names the device, and one click gives every item of
// the device the officer and camera, each change in the custody chain.
func TestBrowserAssignUnidentifiedDevice(t *testing.T) {
	f := newFixture(t, web.Config{})
	const device = "usb-0781_5567_4C530002"
	intake := evidence.Intake{Actor: "dock:1-1.4", Source: device,
		Labels: map[string]string{"unidentified": "usb-serial", "bay": "1-1.4"}}
	clip, _, err := f.v.IngestFile(t.Context(), filepath.Join(footage, "store-aisle.mp4"), intake)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := f.v.IngestFile(t.Context(), filepath.Join(footage, "parking-cars.mp4"), intake)
	if err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	run(t, ctx, "log in as staff and open an identified item", logIn(f, "sam", staffPass,
		chromedp.WaitVisible(chromedp.CSS("#items")),
		chromedp.Navigate(f.http.URL+"/#/item/"+f.master.Digest.String()),
		chromedp.WaitVisible(chromedp.CSS("#item-events tr:nth-child(2)")),
	)...)
	if shown := get(t, ctx, chromedp.Evaluate[bool](`!document.querySelector('#assign-box').hidden`)); shown {
		t.Error("the assign form shows on an identified camera's item")
	}
	run(t, ctx, "open the unidentified device's item and assign it",
		chromedp.Navigate(f.http.URL+"/#/item/"+clip.Digest.String()),
		chromedp.WaitVisible(chromedp.CSS("#assign-officer")),
		chromedp.SendKeys(chromedp.CSS("#assign-officer"), "PC 5150"),
		chromedp.SendKeys(chromedp.CSS("#assign-camera"), "BWC-12"),
		chromedp.Click(chromedp.CSS("#assign-btn")),
	)
	want := "2 item(s) of " + device + " assigned to PC 5150"
	var note string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(note, want); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			it, _ := f.v.Item(clip.Digest)
			t.Fatalf("the page says %q, want %q (the item's officer is %q)", note, want, it.Officer)
		}
		note = get(t, ctx, chromedp.Evaluate[string](`document.querySelector('#assign-note').textContent + ' ' + document.querySelector('#assign-error').textContent`))
	}
	saveShot(t, "assign-device.png", get(t, ctx, chromedp.Screenshot(chromedp.CSS("section.meta"))))
	for _, d := range []evidence.Digest{clip.Digest, second.Digest} {
		it, err := f.v.Item(d)
		if err != nil {
			t.Fatal(err)
		}
		if it.Officer != "PC 5150" || it.Labels["camera"] != "BWC-12" {
			t.Errorf("%s after assigning from the page: officer %q, camera %q", d.Short(), it.Officer, it.Labels["camera"])
		}
		if evs := eventsOf(t, f.v, d, evidence.ActionRecordChanged); len(evs) != 1 || evs[0].Actor != "user:sam" {
			t.Errorf("%s: record-changed events %+v, want one by user:sam", d.Short(), evs)
		}
	}
	if officer := get(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#item-meta tr')].find((r) => r.cells[0].textContent === 'officer').cells[1].textContent`)); officer != "PC 5150" {
		t.Errorf("the item page shows officer %q after the assignment", officer)
	}
}
