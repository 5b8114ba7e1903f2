package rtsp

import "time"

// timeline turns a session's decoded RTP presentation times into one
// continuous output timeline. RTP wrap-around is already unrolled by
// gortsplib; what is left are camera clock jumps (a camera that resets its
// RTP clock or steps it after an NTP sync). A step forwards by more than the
// appliance's own clock moved plus jumpTolerance, or backwards by more than
// jumpTolerance (B-frames step back by a few frames, never by a second), is
// taken as a jump and absorbed: the frame is placed one frame duration after
// the previous one. Frames that arrive late in a burst after a network
// stall step forwards by less than the elapsed time and are left alone.
type timeline struct {
	clock       int64 // ticks per second
	offset      int64
	last        int64
	frameDur    int64 // smallest forward step seen: one frame at a constant rate
	lastArrival time.Time
	started     bool
	jumps       int
}

const jumpTolerance = time.Second

// place maps a raw presentation time that arrived at the given moment onto
// the output timeline and reports whether a jump was absorbed.
func (t *timeline) place(raw int64, arrival time.Time) (int64, bool) {
	out := raw + t.offset
	if !t.started {
		t.started, t.last, t.lastArrival = true, out, arrival
		return out, false
	}
	step := out - t.last
	elapsed := arrival.Sub(t.lastArrival)
	t.lastArrival = arrival
	stepDur := time.Duration(float64(step) / float64(t.clock) * float64(time.Second))
	if stepDur <= elapsed+jumpTolerance && stepDur >= -jumpTolerance {
		if step > 0 && (t.frameDur == 0 || step < t.frameDur) {
			t.frameDur = step
		}
		t.last = out
		return out, false
	}
	dur := t.frameDur
	if dur <= 0 {
		dur = max(t.clock/25, 1)
	}
	placed := t.last + dur
	t.offset += placed - out
	t.last = placed
	t.jumps++
	return placed, true
}

// shift is the current raw-to-output offset.
func (t *timeline) shift() int64 { return t.offset }
