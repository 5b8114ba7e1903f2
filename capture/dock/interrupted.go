package dock

import (
	"context"
	"fmt"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// offloadingKey marks a camera whose offload pass is under way. One still
// there when the camera is next seen means the appliance stopped (power
// cut, crash, kill) without ending the pass, which no code could record at
// the time.
func offloadingKey(serial string) string { return "offloading/" + serial }

func (d *Dock) markOffloading(ctx context.Context, s *session, started time.Time) {
	if d.state == nil {
		return
	}
	val := s.bay + " " + started.UTC().Format(time.RFC3339Nano)
	if err := d.state.Put(ctx, offloadingKey(s.dev.Serial), []byte(val)); err != nil {
		d.log.Warn("remember offload under way", "bay", s.bay, "err", err)
	}
}

func (d *Dock) clearOffloading(ctx context.Context, s *session) {
	if d.state == nil {
		return
	}
	if err := d.state.Delete(context.WithoutCancel(ctx), offloadingKey(s.dev.Serial)); err != nil {
		d.log.Warn("forget offload under way", "bay", s.bay, "err", err)
	}
}

// recoverInterrupted records, before a new pass, that the camera's last
// offload never ended.
func (d *Dock) recoverInterrupted(ctx context.Context, s *session) error {
	if d.state == nil {
		return nil
	}
	val, err := d.state.Get(offloadingKey(s.dev.Serial))
	if err != nil || val == nil {
		return err
	}
	det := s.bayDetails(d.now())
	det["reason"] = "the appliance stopped during the offload; found when the camera was next seen"
	det["started"] = string(val)
	if _, err := d.vault.Append(ctx, evidence.CustodyEvent{Actor: s.actor, Action: evidence.ActionOffloadInterrupted, Details: det}); err != nil {
		return fmt.Errorf("bay %s: record the interrupted offload: %w", s.bay, err)
	}
	d.log.Warn("the last offload of this camera was cut short by a stop of the appliance; resuming", "bay", s.bay, "serial", s.dev.Serial)
	d.clearOffloading(ctx, s)
	return nil
}
