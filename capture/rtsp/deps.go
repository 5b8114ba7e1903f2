package rtsp

import (
	"context"
	"log/slog"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Vault is what the recorder needs from the daemon's vault.
type Vault interface {
	// IngestFile stores the file at path under its digest; the bool says
	// whether the bytes were new.
	IngestFile(ctx context.Context, path string, in evidence.Intake) (evidence.Item, bool, error)
	// Append adds events to the custody chain; the vault fills Seq, Time,
	// Prev and Hash.
	Append(ctx context.Context, events ...evidence.CustodyEvent) ([]evidence.CustodyEvent, error)
}

// MotionSignal tells a motion-mode recorder whether a stretch of time is
// worth keeping. The motion package supplies the real one.
type MotionSignal interface {
	// MotionBetween reports whether motion was seen on the camera at any
	// moment in [from, to] (appliance clock).
	MotionBetween(cameraID string, from, to time.Time) bool
}

// Options are the recorder's collaborators other than the vault.
type Options struct {
	Logger *slog.Logger // default slog.Default()
	// Motion is required in ModeMotion and ignored otherwise.
	Motion MotionSignal
	// OnSealed, if set, is called after every segment reached the vault.
	OnSealed func(evidence.Item)
	// DrainTimeout bounds how long Run, once its context ended, keeps
	// trying to hand finished segments to the vault; what is left stays in
	// the spool for Recover. Default 15s.
	DrainTimeout time.Duration
}
