package pipeline

import (
	"context"
	"encoding/binary"
	"log/slog"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

const footage = "../../testdata/footage/"

// A camera's segment is triaged while no docked clip is: the two have
// followers of their own, so a dock's minutes of decoding never hold a
// camera's segments back. Each follower triages its own items only, once.
func TestCameraSegmentsDoNotWaitForDockedClips(t *testing.T) {
	ctx := context.Background()
	v, err := vault.Open(ctx, t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	docked, _, err := v.IngestFile(ctx, footage+"store-aisle.mp4", evidence.Intake{Actor: "dock", Kind: evidence.KindVideo, Source: "BWC-7"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	segment, _, err := v.IngestFile(ctx, footage+"faces-walking.mp4", evidence.Intake{Actor: "camera:yard", Kind: evidence.KindVideo,
		Source: "yard", Labels: map[string]string{"origin": "rtsp"}, CapturedStart: start, CapturedEnd: start.Add(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	stages, err := NewTriageStage(ctx, v, DefaultTriage(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	files, cameras := stages[0], stages[1]
	if files.Name() != TriageFiles || cameras.Name() != TriageCameras {
		t.Fatalf("stages %s, %s", files.Name(), cameras.Name())
	}

	runUntilTriaged(t, v, cameras, segment.Digest)
	if n := triagedEvents(t, v, docked.Digest); n != 0 {
		t.Fatalf("the cameras' follower triaged the docked clip (%d events)", n)
	}
	runUntilTriaged(t, v, files, docked.Digest)
	if n := triagedEvents(t, v, segment.Digest); n != 1 {
		t.Fatalf("the camera's segment was triaged %d times, want once", n)
	}
}

// runUntilTriaged runs f until d has been triaged, then stops it.
func runUntilTriaged(t *testing.T, v *vault.Vault, f *Follower, d evidence.Digest) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", f.Name(), err)
		}
	}()
	for deadline := time.Now().Add(60 * time.Second); triagedEvents(t, v, d) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not triage %s within 60 s", f.Name(), d.Short())
		}
	}
}

func triagedEvents(t *testing.T, v *vault.Vault, d evidence.Digest) int {
	t.Helper()
	events, err := v.ItemEvents(d)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == evidence.ActionTriaged {
			n++
		}
	}
	return n
}

// On a vault triaged by one follower before the stage was split, the
// cameras' follower starts where that one was, not at the chain's start
// (every segment ever recorded triaged again); one with a cursor of its
// own keeps it.
func TestCamerasFollowerStartsWhereTriageWas(t *testing.T) {
	ctx := context.Background()
	v, err := vault.Open(ctx, t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	cursor := func(name string) uint64 {
		raw, err := v.State(name).Get(cursorKey)
		if err != nil || len(raw) != 8 {
			t.Fatalf("%s cursor %x: %v", name, raw, err)
		}
		return binary.BigEndian.Uint64(raw)
	}
	if err := v.State(TriageFiles).Put(ctx, cursorKey, binary.BigEndian.AppendUint64(nil, 41)); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if _, err := NewTriageStage(ctx, v, DefaultTriage(), nil, log); err != nil {
		t.Fatal(err)
	}
	if got := cursor(TriageCameras); got != 41 {
		t.Fatalf("cameras' cursor %d after the split, want 41 (triage's)", got)
	}
	if err := v.State(TriageFiles).Put(ctx, cursorKey, binary.BigEndian.AppendUint64(nil, 90)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewTriageStage(ctx, v, DefaultTriage(), nil, log); err != nil {
		t.Fatal(err)
	}
	if got := cursor(TriageCameras); got != 41 {
		t.Fatalf("cameras' cursor %d after a restart, want its own 41", got)
	}
}
