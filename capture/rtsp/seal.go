package rtsp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// job is one piece of work for the custody worker: a segment to seal or a
// gap event to append. One worker per recorder keeps them in the order they
// happened, so the chain reads segment, gap-start, gap-end, segment.
type job struct {
	seg      *closedSegment
	event    *evidence.CustodyEvent
	leftover string // spool base left by an earlier run
}

func segName(base string) string { return filepath.Base(base) + segExt }

func cameraFromSpool(base string) string { return filepath.Base(filepath.Dir(base)) }

// custodyWorker drains jobs until the channel is closed. Work is retried
// until it succeeds or ctx ends; what is left then stays in the spool and is
// picked up by Recover on the next start.
func (r *Recorder) custodyWorker(ctx context.Context, jobs <-chan job) {
	for j := range jobs {
		switch {
		case j.event != nil:
			ev := *j.event
			r.retry(ctx, "append "+string(ev.Action), func(ctx context.Context) error {
				_, err := r.vault.Append(ctx, ev)
				return err
			})
		case j.seg != nil:
			r.handleSegment(ctx, *j.seg)
		case j.leftover != "":
			r.retry(ctx, "recover "+filepath.Base(j.leftover), func(ctx context.Context) error {
				return r.recoverOne(ctx, j.leftover)
			})
		}
	}
}

func (r *Recorder) handleSegment(ctx context.Context, cs closedSegment) {
	if cs.partial {
		r.retry(ctx, "seal interrupted segment", func(ctx context.Context) error {
			return r.sealInterrupted(ctx, cs.base)
		})
		return
	}
	if r.cfg.Mode == ModeMotion && !r.motionKeeps(ctx, cs.meta) {
		r.log.Info("segment dropped: no motion within the pre/post roll",
			"segment", segName(cs.base), "start", cs.meta.WallStart, "end", cs.meta.WallEnd)
		removeSpool(cs.base)
		r.noteDropped()
		return
	}
	r.retry(ctx, "seal segment", func(ctx context.Context) error {
		return r.seal(ctx, cs.base+segExt, cs.base, cs.meta.intake(segName(cs.base)))
	})
}

// motionKeeps waits until the pre-roll after the segment has passed (motion
// just after it keeps it too), then asks the motion signal.
func (r *Recorder) motionKeeps(ctx context.Context, m segMeta) bool {
	wait := time.Until(m.WallEnd.Add(r.cfg.PreRoll))
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return r.opt.Motion.MotionBetween(r.cfg.ID, m.WallStart.Add(-r.cfg.PostRoll), m.WallEnd.Add(r.cfg.PreRoll))
}

// seal hands a finished spool file to the vault, records that the segment
// was sealed, and clears the spool entry.
func (r *Recorder) seal(ctx context.Context, file, base string, in evidence.Intake) error {
	it, fresh, err := r.vault.IngestFile(ctx, file, in)
	if err != nil {
		return fmt.Errorf("ingest %s: %w", filepath.Base(file), err)
	}
	if !fresh {
		r.log.Warn("segment bytes were already in the vault", "digest", it.Digest.Short())
	}
	details := map[string]string{
		"camera":     r.cfg.ID,
		"segment":    filepath.Base(file),
		"start":      in.CapturedStart.Format(time.RFC3339Nano),
		"end":        in.CapturedEnd.Format(time.RFC3339Nano),
		"duration_s": fmt.Sprintf("%.3f", in.CapturedEnd.Sub(in.CapturedStart).Seconds()),
	}
	for _, p := range in.Problems {
		details["problem"] = p.Code
	}
	ev := evidence.CustodyEvent{Actor: r.actor, Action: evidence.ActionSegmentSealed, Item: it.Digest, Details: details}
	if _, err := r.vault.Append(ctx, ev); err != nil {
		// The item is stored and its ingest is on the chain; only the
		// seal note is missing. Retrying the ingest would be harmless but
		// the spool entry must not be sealed twice, so go on.
		r.log.Error("segment stored but the seal event could not be appended", "digest", it.Digest, "err", err)
	}
	removeSpool(base)
	r.noteSealed(it)
	if r.opt.OnSealed != nil {
		r.opt.OnSealed(it)
	}
	return nil
}

// sealInterrupted seals a spool entry whose recording never finished.
func (r *Recorder) sealInterrupted(ctx context.Context, base string) error {
	file := base + partExt
	if _, err := os.Stat(file); err != nil {
		file = base + segExt
	}
	meta, err := readMeta(base)
	haveMeta := err == nil
	if !haveMeta {
		r.log.Warn("interrupted segment has no readable metadata", "segment", filepath.Base(file), "err", err)
	}
	in, err := salvageSpool(base, file, meta, haveMeta)
	if err != nil {
		return err
	}
	r.log.Warn("sealing interrupted segment", "segment", filepath.Base(file), "detail", in.Problems[len(in.Problems)-1].Detail)
	return r.seal(ctx, file, base, in)
}

// removeSpool clears a spool entry. A file it fails to remove is safe to
// leave: recovery seals it again under the same digest, which the vault
// recognises as bytes it already holds.
func removeSpool(base string) {
	for _, ext := range []string{partExt, segExt, metaExt + ".tmp", metaExt} {
		os.Remove(base + ext)
	}
}

// retry runs f until it succeeds or ctx ends, waiting with backoff between
// attempts; a vault that is briefly unavailable must not lose a segment.
func (r *Recorder) retry(ctx context.Context, what string, f func(context.Context) error) {
	wait := r.cfg.BackoffMin
	for {
		err := f(ctx)
		if err == nil {
			return
		}
		r.log.Error(what+" failed; will retry", "err", err)
		r.noteError("vault", err)
		if !sleepCtx(ctx, jitter(wait)) {
			r.log.Error(what+" abandoned at shutdown; the spool keeps it for the next start", "err", err)
			return
		}
		wait = min(wait*2, r.cfg.BackoffMax)
	}
}

// Recover seals whatever an earlier run of this camera's recorder left in
// the spool: closed segments normally, unfinished ones marked interrupted.
// Run does the same on start, retrying until the vault takes them; Recover
// is for callers that want it done before going on. It must not run while
// Run is recording.
func (r *Recorder) Recover(ctx context.Context) error {
	bases, err := r.leftovers()
	if err != nil {
		return err
	}
	var errs []error
	for _, base := range bases {
		if err := r.recoverOne(ctx, base); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// leftovers lists the spool entries of this camera, oldest first.
func (r *Recorder) leftovers() ([]string, error) {
	entries, err := os.ReadDir(r.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recover %s: %w", r.dir, err)
	}
	var bases []string
	for _, e := range entries {
		name := e.Name()
		for _, ext := range []string{metaExt + ".tmp", partExt, metaExt, segExt} {
			if strings.HasSuffix(name, ext) {
				base := filepath.Join(r.dir, strings.TrimSuffix(name, ext))
				if !slices.Contains(bases, base) {
					bases = append(bases, base)
				}
				break
			}
		}
	}
	slices.Sort(bases) // names start with the UTC start time
	return bases, nil
}

func (r *Recorder) recoverOne(ctx context.Context, base string) error {
	_, errPart := os.Stat(base + partExt)
	_, errSeg := os.Stat(base + segExt)
	meta, errMeta := readMeta(base)
	switch {
	case errPart != nil && errSeg != nil:
		// Metadata of a segment whose file was never created.
		removeSpool(base)
		return nil
	case errPart == nil || errMeta != nil || !meta.Closed:
		return r.sealInterrupted(ctx, base)
	default:
		r.log.Info("sealing segment left in the spool", "segment", segName(base))
		return r.seal(ctx, base+segExt, base, meta.intake(segName(base)))
	}
}
