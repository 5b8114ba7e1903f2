package pipeline

import (
	"context"
	"time"
)

// every calls fn at each tick until ctx ends or fn fails; a ticker, not a
// sleep, so a slow fn does not push later ticks back.
func every(ctx context.Context, interval time.Duration, fn func() error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := fn(); err != nil {
				return err
			}
		}
	}
}
