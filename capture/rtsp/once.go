package rtsp

import (
	"context"
	"fmt"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// RecordOnce records one camera until ctx ends, the way `edgetriage record`
// tries a camera before it is configured: it reconnects like the daemon
// would, seals every segment (the last one when ctx ends) and calls
// onSealed for each. It fails when nothing at all could be recorded, with
// the camera's last error. Logs go to slog.Default().
func RecordOnce(ctx context.Context, cfg Config, vault Vault, onSealed func(evidence.Item)) error {
	r, err := New(cfg, vault, Options{OnSealed: onSealed})
	if err != nil {
		return err
	}
	if err := r.Run(ctx); err != nil {
		return err
	}
	st := r.Status()
	if st.SegmentsSealed == 0 {
		if st.LastError != "" {
			return fmt.Errorf("camera %s: nothing recorded: %s: %s", cfg.ID, st.LastErrorReason, st.LastError)
		}
		return fmt.Errorf("camera %s: nothing recorded", cfg.ID)
	}
	return nil
}

// SealedLine is the line `edgetriage record` prints for a sealed segment:
// "<sha256-hex>  <start RFC3339>  <duration s>".
func SealedLine(it evidence.Item) string {
	return fmt.Sprintf("%s  %s  %.3f", it.Digest, it.CapturedStart.UTC().Format(time.RFC3339), it.CapturedEnd.Sub(it.CapturedStart).Seconds())
}
