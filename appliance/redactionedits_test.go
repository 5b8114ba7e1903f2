package appliance

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/testkit"
)

func putEdits(t *testing.T, url string, body string, s *auth.Session, csrf bool, origin ...string) int {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	for _, o := range origin {
		req.Header.Set("Origin", o)
	}
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: s.Token})
	if csrf {
		req.Header.Set("X-CSRF-Token", s.CSRF)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestInvestigatorEditsRedactionAndANewCopyIsRendered(t *testing.T) {
	d, base := startDaemon(t, nil)
	ctx := context.Background()
	master, _, err := d.vault.IngestFile(ctx, filepath.Join(testFootage, "static-room.mp4"), evidence.Intake{Source: "room"})
	if err != nil {
		t.Fatal(err)
	}
	login := func(name string, role auth.Role) *auth.Session {
		if err := d.auth.AddUser(ctx, "appliance:test", name, role, "a long enough password"); err != nil {
			t.Fatal(err)
		}
		s, err := d.auth.Login(ctx, name, "a long enough password", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	inv, staff := login("det-smith", auth.RoleInvestigator), login("pc-jones", auth.RoleStaff)
	url := base + "/api/v1/items/" + master.Digest.String() + "/redaction-edits"
	edit := `[{"op":"add","start_s":1,"end_s":3,"box":{"x":10,"y":10,"w":200,"h":120},"note":"poster with a name"}]`
	if code := putEdits(t, url, edit, staff, true); code != http.StatusForbidden {
		t.Fatalf("staff edit: %d", code)
	}
	if code := putEdits(t, url, edit, inv, false); code != http.StatusForbidden {
		t.Fatalf("edit without CSRF token: %d", code)
	}
	// A page of another site cannot change what is redacted, even with a
	// stolen token: the route sits behind the web part's Origin check.
	if code := putEdits(t, url, edit, inv, true, "https://evil.example"); code != http.StatusForbidden {
		t.Fatalf("cross-site edit: %d", code)
	}
	if code := putEdits(t, url, `[{"op":"add","start":1}]`, inv, true); code != http.StatusBadRequest {
		t.Fatalf("edit with an unknown key: %d", code)
	}
	if code := putEdits(t, url, edit, inv, true); code != http.StatusAccepted {
		t.Fatalf("investigator edit: %d", code)
	}
	testkit.WaitFor(t, "a copy rendered with the edit", 120*time.Second, func() bool {
		evs, _ := d.vault.ItemEvents(master.Digest)
		last := evs[len(evs)-1]
		return last.Action == evidence.ActionRedacted && last.Details["redacted_copy"] != ""
	})
	evs, _ := d.vault.ItemEvents(master.Digest)
	var sawEdit bool
	for _, e := range evs {
		if e.Action == evidence.ActionRedactionEdited && e.Actor == "user:det-smith" && e.Details["edits"] == "1" {
			sawEdit = true
		}
	}
	if !sawEdit {
		t.Fatalf("no redaction-edited event by the investigator: %+v", evs)
	}
}
