package outbox

import "time"

// Backoff spaces retries of a failing item: the delay doubles from Base up
// to Max, and a random half of it is jitter, so many items that failed
// together (an uplink outage) do not all retry in the same instant.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
}

// Delay is the wait before retry number attempt (1 for the first retry);
// rnd is a random number in [0, 1).
func (b Backoff) Delay(attempt int, rnd float64) time.Duration {
	d := b.Base
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d/2 + time.Duration(rnd*float64(d/2))
}
