package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The login form is open to anyone on the station network. Two attacks
// through it used to damage custody for good: a user name cut in the
// middle of a UTF-8 character made an event that no longer matched its
// hash (verify failed on every run after), and each failed login was a
// custody event, so a flood grew the chain and the disk until intake
// stopped. Neither does now, and the cameras keep recording throughout.
func TestLoginFormAttacksLeaveCustodyWhole(t *testing.T) {
	st := newStation(t, stationOptions{cameras: map[string]string{
		"yard": servedCamera(t, filepath.Join(footage, "room-people-enter-leave.mp4"))}})
	st.serve()
	segments := func() float64 { return st.scrape()["edgetriage_camera_segments_sealed_total"] }
	st.waitFor("the camera's first segment", 60*time.Second, func() (bool, string) { return segments() >= 1, "" })

	halfE := strings.Repeat("a", 63) + "é"
	if code := postLogin(st.base, http.DefaultClient, halfE); code != http.StatusUnauthorized {
		t.Fatalf("login as %q: %d", halfE, code)
	}

	before := segments()
	const attempts = 100000
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var next, refused atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= attempts {
				if code := postLogin(st.base, client, "admin"); code == http.StatusTooManyRequests || code == http.StatusUnauthorized {
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if refused.Load() != attempts {
		t.Fatalf("%d of %d guesses were refused", refused.Load(), attempts)
	}
	t.Logf("%d failed logins in %s", attempts, took.Round(time.Millisecond))
	// The camera kept recording: segments sealed during the flood, no gap.
	st.waitFor("a segment sealed since the flood began", 30*time.Second, func() (bool, string) { return segments() > before, "" })
	if gaps := st.cameraGaps(); len(gaps) > 0 {
		t.Fatalf("recording gaps during the flood: %v", gaps)
	}
	st.stop()

	if r := verifyPinned(t, st.data); r.code != 0 {
		t.Fatalf("verify after the attacks: %s%s", r.stdout, r.stderr)
	}
	r := run(t, "custody", "--data", st.data, "--json")
	logins := 0
	for line := range strings.Lines(r.stdout) {
		var e struct{ Action string }
		if json.Unmarshal([]byte(line), &e) == nil && e.Action == "login" {
			logins++
		}
	}
	// The investigator's own login, and one summary per address a minute.
	if max := 2 + int(took/time.Minute)*2; logins > max {
		t.Fatalf("%d login events in the chain after %d failed logins in %s (at most %d)", logins, attempts, took, max)
	}
}

func postLogin(base string, c *http.Client, user string) int {
	body, _ := json.Marshal(map[string]string{"user": user, "password": "not the password"})
	resp, err := c.Post(base+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
