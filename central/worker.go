package central

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/edgetriage/edgetriage/central/store"
)

// follower is the goroutine following one leased station.
type follower struct {
	lease  store.Lease
	cancel context.CancelFunc
	done   chan struct{}
}

// RunWorker leases this worker's share of the fleet and follows each leased
// station until ctx ends. The share is the fleet divided by the live
// workers, so a new worker takes stations from the others and a dead
// worker's stations are taken over once their leases expire.
func (s *Service) RunWorker(ctx context.Context) error {
	running := map[string]*follower{}
	// Workers started together see each other before the first lease, so
	// the first one up does not take the whole fleet only to hand part of
	// it back mid-item a moment later.
	if _, err := s.store.Heartbeat(ctx, s.cfg.WorkerID, 2*s.cfg.LeaseTTL); err != nil {
		s.log.Warn("heartbeat failed", "err", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(min(s.cfg.LeaseTTL/3, time.Second)):
	}
	tick := time.NewTicker(s.cfg.LeaseTTL / 3)
	defer tick.Stop()
	for {
		if err := s.tick(ctx, running); err != nil && ctx.Err() == nil {
			s.log.Warn("lease round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			s.stopAll(running)
			leave, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return s.store.Leave(leave, s.cfg.WorkerID)
		case <-tick.C:
		}
	}
}

func (s *Service) tick(ctx context.Context, running map[string]*follower) error {
	alive, err := s.store.Heartbeat(ctx, s.cfg.WorkerID, 2*s.cfg.LeaseTTL)
	if err != nil {
		return err
	}
	total, err := s.store.StationCount(ctx)
	if err != nil {
		return err
	}
	share := (total + max(alive, 1) - 1) / max(alive, 1)
	leases, err := s.store.Lease(ctx, s.cfg.WorkerID, s.cfg.LeaseTTL, share)
	if err != nil {
		return err
	}
	for id, f := range running {
		if !slices.ContainsFunc(leases, func(l store.Lease) bool { return l.Station == id && l.Epoch == f.lease.Epoch }) {
			s.log.Info("station lease lost", "station", id)
			s.stop(running, id)
		}
	}
	for i, l := range leases {
		if i >= share {
			s.stop(running, l.Station)
			if err := s.store.Release(ctx, l, s.cfg.WorkerID); err != nil {
				return err
			}
			s.log.Info("station released to rebalance", "station", l.Station, "share", share)
			continue
		}
		if running[l.Station] == nil && s.stations[l.Station] != nil {
			running[l.Station] = s.start(ctx, l)
		}
	}
	s.metrics.leases.Set(float64(len(running)))
	raised, cleared, err := s.store.RaiseSilent(ctx, s.cfg.SilentAfter)
	for _, id := range raised {
		s.log.Warn("station silent", "station", id, "after", s.cfg.SilentAfter)
	}
	for _, id := range cleared {
		s.log.Info("station heard from again", "station", id)
	}
	return err
}

func (s *Service) start(ctx context.Context, l store.Lease) *follower {
	fctx, cancel := context.WithCancel(ctx)
	f := &follower{lease: l, cancel: cancel, done: make(chan struct{})}
	s.log.Info("following station", "station", l.Station, "epoch", l.Epoch, "cursor", l.Cursor)
	go func() {
		defer close(f.done)
		s.follow(fctx, l)
	}()
	return f
}

func (s *Service) stop(running map[string]*follower, id string) {
	if f := running[id]; f != nil {
		f.cancel()
		<-f.done
		delete(running, id)
	}
}

func (s *Service) stopAll(running map[string]*follower) {
	var wg sync.WaitGroup
	for _, f := range running {
		f.cancel()
		wg.Go(func() { <-f.done })
	}
	wg.Wait()
}

// follow runs rounds on the station until its lease is lost or ctx ends.
func (s *Service) follow(ctx context.Context, l store.Lease) {
	stn := s.stations[l.Station]
	for {
		cursor, err := s.round(ctx, stn, l)
		l.Cursor = cursor
		if errors.Is(err, store.ErrFenced) {
			s.log.Warn("station lease lost mid-round", "station", l.Station)
			return
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("station round failed", "station", l.Station, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.PollInterval):
		}
	}
}
