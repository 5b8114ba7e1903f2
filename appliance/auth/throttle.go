package auth

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Wrong passwords are counted per address and account name together, so
// the network can slow down and lock out only its own guesses: the real
// admin at another desk still logs in. Unknown names are counted the same
// way, so a lockout says nothing about which names exist.
type guessKey struct {
	host string
	name string
}

type guesses struct {
	failures    int
	nextAllowed time.Time // progressive delay after each failure
	lockedUntil time.Time
}

// maxTrackedGuessers bounds the memory a flood of addresses can take;
// forgetting them only makes throttling briefly lenient.
const maxTrackedGuessers = 10000

// delayAfter is the wait imposed before the next attempt of the same
// address at the same name: nothing for the first few typos, then doubling
// up to half a minute.
func delayAfter(failures int) time.Duration {
	if failures < 3 {
		return 0
	}
	return min(time.Second<<(failures-3), 30*time.Second)
}

func hostOf(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

// admit says whether an attempt may be checked at all: the address's own
// rate, then the pair's delay and lockout.
func (s *Service) admit(host, name string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.limiters[host]
	if !ok {
		if len(s.limiters) > maxTrackedGuessers {
			clear(s.limiters)
		}
		l = rate.NewLimiter(s.opt.LoginRate, s.opt.LoginBurst)
		s.limiters[host] = l
	}
	if !l.AllowN(now, 1) {
		return ErrRateLimited
	}
	g := s.guesses[guessKey{host, name}]
	switch {
	case now.Before(g.lockedUntil):
		return fmt.Errorf("%w (until %s)", ErrLocked, g.lockedUntil.UTC().Format(time.RFC3339))
	case now.Before(g.nextAllowed):
		return ErrRateLimited
	}
	return nil
}

// noteOutcome updates the pair's count after a checked attempt; now is
// when the answer is given, not when the attempt came in: on a busy box
// the password hash alone can take longer than the first delay.
func (s *Service) noteOutcome(host, name string, ok bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := guessKey{host, name}
	if ok {
		delete(s.guesses, k)
		return
	}
	if len(s.guesses) > maxTrackedGuessers {
		clear(s.guesses)
	}
	g := s.guesses[k]
	g.failures++
	g.nextAllowed = now.Add(delayAfter(g.failures))
	if g.failures >= s.opt.MaxFailures {
		g.failures, g.lockedUntil = 0, now.Add(s.opt.LockFor)
	}
	s.guesses[k] = g
}

// A failed login is worth recording, but one custody event for each would
// let anyone on the network grow the chain (and fill the disk, stopping
// camera intake) as fast as they can send requests. Failures are summed per
// address over a window and written as one event; past a bound on the
// number of addresses, the rest share one summary.
const (
	failureWindow        = time.Minute
	maxFailureSummaries  = 100
	namesPerSummary      = 5
	otherAddressesSource = "other addresses"
)

type failureSummary struct {
	start    time.Time
	last     time.Time
	count    int
	hosts    map[string]bool // only for the shared summary
	names    []string
	outcomes map[string]int
}

func (s *Service) noteFailure(host, name, outcome string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := host
	if _, ok := s.failures[key]; !ok && len(s.failures) >= maxFailureSummaries {
		key = otherAddressesSource
	}
	f := s.failures[key]
	if f == nil {
		f = &failureSummary{start: now, hosts: map[string]bool{}, outcomes: map[string]int{}}
		s.failures[key] = f
	}
	f.count++
	f.last = now
	f.outcomes[outcome]++
	if key == otherAddressesSource && len(f.hosts) < maxTrackedGuessers {
		f.hosts[host] = true
	}
	name = evidence.TruncateText(name, 64)
	if len(f.names) < namesPerSummary && !slices.Contains(f.names, name) {
		f.names = append(f.names, name)
	}
}

// takeEnded removes the summaries whose window has ended (all when flush).
func (s *Service) takeEnded(now time.Time, flush bool) map[string]*failureSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*failureSummary{}
	for k, f := range s.failures {
		if flush || now.Sub(f.start) >= failureWindow {
			out[k] = f
			delete(s.failures, k)
		}
	}
	return out
}

// FlushFailures writes one custody event per address for the login
// failures of every window that has ended (every window, when all is set).
func (s *Service) FlushFailures(ctx context.Context, all bool) error {
	ended := s.takeEnded(s.opt.Now(), all)
	if len(ended) == 0 || s.audit == nil {
		return nil
	}
	events := make([]evidence.CustodyEvent, 0, len(ended))
	for source, f := range ended {
		e := failureEvent(source, f)
		s.opt.Logger.Warn("failed logins", "remote", source, "count", f.count, "names", e.Details["names"], "outcomes", e.Details["outcomes"])
		events = append(events, e)
	}
	slices.SortFunc(events, func(a, b evidence.CustodyEvent) int { return strings.Compare(a.Details["remote"], b.Details["remote"]) })
	if _, err := s.audit.Append(ctx, events...); err != nil {
		return fmt.Errorf("record login failures: %w", err)
	}
	return nil
}

func failureEvent(source string, f *failureSummary) evidence.CustodyEvent {
	var outcomes []string
	for o, n := range f.outcomes {
		outcomes = append(outcomes, fmt.Sprintf("%s=%d", o, n))
	}
	slices.Sort(outcomes)
	details := map[string]string{
		"result":   "failures",
		"remote":   source,
		"count":    fmt.Sprint(f.count),
		"first":    f.start.UTC().Format(time.RFC3339),
		"last":     f.last.UTC().Format(time.RFC3339),
		"outcomes": strings.Join(outcomes, " "),
		"names":    strings.Join(f.names, " "),
	}
	if source == otherAddressesSource {
		details["addresses"] = fmt.Sprint(len(f.hosts))
	}
	return evidence.CustodyEvent{Actor: "appliance:auth", Action: evidence.ActionLogin, Details: details}
}

// Run writes the failure summaries as their windows end, and the rest
// when ctx ends, so the daemon's shutdown loses none; it also forgets
// stored sessions that have ended.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(failureWindow / 6)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// The vault is still open: intake stops before it closes.
			return s.FlushFailures(context.WithoutCancel(ctx), true)
		case <-t.C:
			if err := s.FlushFailures(ctx, false); err != nil {
				s.opt.Logger.Error("login failures", "err", err)
			}
			if err := s.sweepStored(ctx); err != nil {
				s.opt.Logger.Error("forget ended sessions", "err", err)
			}
		}
	}
}
