package vault

import (
	"fmt"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// A system clock stepped back (by hand, or by NTP after running fast)
// makes the next checkpoint's time earlier than the last one's, which is
// otherwise the mark of checkpoints re-signed with a clock set back. The
// daemon's clock watch records each jump as a clock-jump event with both
// readings; a backward jump recorded between the two checkpoints that is
// at least as large as the gap explains it.

// clockJump is a clock-jump event as verify needs it.
type clockJump struct {
	seq    uint64
	at     time.Time // the event's own time: after the jump
	jump   time.Duration
	before string // wall clock before and after, as recorded
	after  string
}

func readClockJump(e evidence.CustodyEvent) clockJump {
	j := clockJump{seq: e.Seq, at: e.Time, before: e.Details["wall_before"], after: e.Details["wall_after"]}
	j.jump, _ = time.ParseDuration(e.Details["jump"])
	return j
}

// jumpSlack allows for a checkpoint signed after the clock moved but
// before the watch (checking every few seconds) recorded it.
const jumpSlack = time.Minute

// explainBackwards finds a recorded backward jump after checkpoint h, by
// about when next was signed, large enough for next's earlier time.
func explainBackwards(jumps []clockJump, h, next signedHead) (string, bool) {
	gap := h.time.Sub(next.time)
	for _, j := range jumps {
		if j.seq <= h.seq || j.jump > -gap || j.at.After(next.time.Add(jumpSlack)) {
			continue
		}
		return fmt.Sprintf("checkpoint of event %d signed at %s, %s before the checkpoint of event %d (%s): event %d records the system clock set back by %s (from %s to %s), which accounts for it",
			next.seq, next.time.Format(time.RFC3339), gap.Round(time.Second), h.seq, h.time.Format(time.RFC3339),
			j.seq, (-j.jump).Round(time.Second), j.before, j.after), true
	}
	return "", false
}
