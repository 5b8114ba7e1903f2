package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

func TestRedactStoresALinkedCopyAndLeavesTheMaster(t *testing.T) {
	data := t.TempDir()
	in := run(t, "ingest", "--data", data, footage+"/faces-walking.mp4")
	if in.code != 0 {
		t.Fatal(in.stderr)
	}
	master := strings.Fields(in.stdout)[0]
	r := run(t, "redact", "--data", data, master, "--json")
	if r.code != 0 {
		t.Fatalf("redact: exit %d %s", r.code, r.stderr)
	}
	var summary struct {
		Digest string `json:"digest"`
		Master string `json:"master"`
		QA     struct {
			Message string `json:"message"`
		} `json:"qa"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &summary); err != nil || len(summary.Digest) != 64 || summary.Master != master {
		t.Fatalf("redact --json printed %q (%v)", r.stdout, err)
	}
	v, err := vault.Open(context.Background(), data, vault.Options{VerifyOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	d, _ := evidence.ParseDigest(summary.Digest)
	cp, err := v.Item(d)
	if err != nil || cp.Parent.String() != master || cp.Relation != "redacted" || cp.Kind != evidence.KindVideo {
		t.Fatalf("redacted copy record %+v %v", cp, err)
	}
	if cp.Media.VideoCodec != "h264" {
		t.Fatalf("redacted copy probed as %+v", cp.Media)
	}
	m, _ := evidence.ParseDigest(master)
	evs, _ := v.ItemEvents(m)
	if last := evs[len(evs)-1]; last.Action != evidence.ActionRedacted || last.Details["redacted_copy"] != summary.Digest {
		t.Fatalf("master's last event %+v", last)
	}
	if r := verifyPinned(t, data); r.code != 0 {
		t.Fatalf("verify: %s", r.stdout)
	}
}
