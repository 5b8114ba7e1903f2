package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTriagePrintsEventsAsJSON(t *testing.T) {
	r := run(t, "triage", footage+"/parking-cars.mp4", "--json")
	if r.code != 0 {
		t.Fatalf("triage: exit %d %s", r.code, r.stderr)
	}
	var res struct {
		Events []struct {
			Start float64 `json:"start"`
			End   float64 `json:"end"`
			Score float64 `json:"score"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Events) == 0 {
		t.Fatalf("triage --json printed %q (%v)", r.stdout, err)
	}
	for _, e := range res.Events {
		if e.End <= e.Start || e.Score <= 0 || e.End > 31 {
			t.Fatalf("event %+v", e)
		}
	}
	data := t.TempDir()
	in := run(t, "ingest", "--data", data, footage+"/static-room.mp4")
	r = run(t, "triage", "--data", data, strings.Fields(in.stdout)[0])
	if r.code != 0 || !strings.HasPrefix(r.stdout, "0 events") {
		t.Fatalf("triage of the empty room by digest: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, "triage", "/nonexistent.mp4"); r.code != 1 || !strings.Contains(r.stderr, "nonexistent.mp4") {
		t.Fatalf("missing file: %+v", r)
	}
}
