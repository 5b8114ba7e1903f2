package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"syscall"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// actorRetention is the actor of every removal and intake stop it makes.
const actorRetention evidence.Actor = "appliance:retention"

// DiskUsage reports the used and total bytes of the volume holding path.
type DiskUsage func(path string) (used, total uint64, err error)

// StatfsUsage reads a volume's usage from the kernel.
func StatfsUsage(path string) (used, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	total = st.Blocks * uint64(st.Bsize)
	free := st.Bavail * uint64(st.Bsize)
	return total - free, total, nil
}

// Retention keeps the data volume below its watermarks by removing local
// copies that central storage holds and has acknowledged, oldest first,
// and stops intake at the reserve rather than touch anything else.
type Retention struct {
	Vault *vault.Vault
	Cfg   RetentionConfig
	Usage DiskUsage
	// Acks says which items central has acknowledged: the outbox.
	Acks interface{ Acknowledged(evidence.Digest) bool }
	Log  *slog.Logger
	Now  func() time.Time
}

func (r *Retention) Name() string { return "retention" }

// Run checks the disk every interval until ctx ends.
func (r *Retention) Run(ctx context.Context) error {
	t := time.NewTicker(r.Cfg.Interval)
	defer t.Stop()
	for {
		if err := r.Sweep(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SweepResult says what one pass did.
type SweepResult struct {
	Removed       []evidence.Digest
	UsedPercent   float64
	IntakeStopped bool
}

// Sweep is one pass: expired local copies go, then, above the high mark,
// removable copies go oldest first down to the low mark; finally intake is
// stopped or resumed by the reserve.
func (r *Retention) Sweep(ctx context.Context) error {
	_, err := r.sweep(ctx)
	return err
}

func (r *Retention) sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	candidates, err := r.removable()
	if err != nil {
		return res, err
	}
	now := r.now()
	for _, it := range candidates {
		if keep, ok := r.Cfg.Categories[it.Labels[evidence.LabelCategory]]; ok && now.Sub(it.IngestedAt) > keep {
			if err := r.remove(ctx, it, fmt.Sprintf("local retention of category %q (%s) expired", it.Labels[evidence.LabelCategory], keep)); err != nil {
				return res, err
			}
			res.Removed = append(res.Removed, it.Digest)
		}
	}
	used, total, err := r.Usage(r.Vault.Dir())
	if err != nil {
		return res, err
	}
	res.UsedPercent = percent(used, total)
	if res.UsedPercent > r.Cfg.HighWatermarkPercent {
		removed, err := r.relieve(ctx, candidates, res.Removed)
		res.Removed = append(res.Removed, removed...)
		if err != nil {
			return res, err
		}
		if used, total, err = r.Usage(r.Vault.Dir()); err != nil {
			return res, err
		}
		res.UsedPercent = percent(used, total)
	}
	res.IntakeStopped, err = r.reserve(ctx, total-used)
	return res, err
}

// relieve removes candidates oldest first until usage is below the low mark.
func (r *Retention) relieve(ctx context.Context, candidates []evidence.Item, already []evidence.Digest) ([]evidence.Digest, error) {
	var removed []evidence.Digest
	for _, it := range candidates {
		if slices.Contains(already, it.Digest) {
			continue
		}
		used, total, err := r.Usage(r.Vault.Dir())
		if err != nil {
			return removed, err
		}
		if percent(used, total) <= r.Cfg.LowWatermarkPercent {
			break
		}
		reason := fmt.Sprintf("disk %.1f%% used, above the %.0f%% high watermark; central storage holds and acknowledged it",
			percent(used, total), r.Cfg.HighWatermarkPercent)
		if err := r.remove(ctx, it, reason); err != nil {
			return removed, err
		}
		removed = append(removed, it.Digest)
	}
	return removed, nil
}

func (r *Retention) remove(ctx context.Context, it evidence.Item, reason string) error {
	r.Log.Info("removing local copy", "digest", it.Digest.String(), "reason", reason)
	return r.Vault.RemoveLocal(ctx, it.Digest, actorRetention, reason)
}

// reserve stops intake when free space falls below the reserve and lets it
// in again once there is half a reserve to spare, so it does not flap.
func (r *Retention) reserve(ctx context.Context, free uint64) (bool, error) {
	reserve := uint64(r.Cfg.ReserveMB) << 20
	stopped := r.Vault.IntakeStopped() != ""
	switch {
	case !stopped && free < reserve:
		reason := fmt.Sprintf("disk full: %d MiB free, below the %d MiB reserve", free>>20, r.Cfg.ReserveMB)
		r.Vault.StopIntake(reason)
		r.Log.Error("intake stopped", "reason", reason)
		return true, r.record(ctx, evidence.ActionIntakeStop, reason)
	case stopped && free >= reserve+reserve/2:
		r.Vault.ResumeIntake()
		reason := fmt.Sprintf("%d MiB free again", free>>20)
		r.Log.Info("intake resumed", "reason", reason)
		return false, r.record(ctx, evidence.ActionIntakeResume, reason)
	}
	return stopped, nil
}

func (r *Retention) record(ctx context.Context, action evidence.Action, reason string) error {
	_, err := r.Vault.Append(ctx, evidence.CustodyEvent{Actor: actorRetention, Action: action,
		Details: map[string]string{"reason": reason}})
	return err
}

// removable lists, oldest first, the stored items whose local copy may go:
// acknowledged by central (with proof that it holds them), or local-only by
// policy and past their category's retention. Held, flagged or unsynced
// items never qualify: a flagged clip stays on the station whatever central
// says, because an acknowledgement is central's word, not the evidence.
func (r *Retention) removable() ([]evidence.Item, error) {
	var stored []evidence.Item
	err := r.Vault.Items(func(it evidence.Item) bool {
		if it.State == evidence.StateStored && !it.Hold && it.Labels[evidence.LabelFlagged] == "" {
			stored = append(stored, it)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	// The outbox is asked after the walk, not inside it: a read of the
	// index within the walk's read deadlocks bbolt once a writer waits.
	var out []evidence.Item
	now := r.now()
	for _, it := range stored {
		keep, hasCategory := r.Cfg.Categories[it.Labels[evidence.LabelCategory]]
		localOnlyExpired := it.Labels[evidence.LabelNeverSync] != "" && hasCategory && now.Sub(it.IngestedAt) > keep
		if localOnlyExpired || r.Acks.Acknowledged(it.Digest) {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b evidence.Item) int { return a.IngestedAt.Compare(b.IngestedAt) })
	return out, nil
}

func (r *Retention) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func percent(used, total uint64) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(used) / float64(total)
}
