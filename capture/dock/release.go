package dock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// verifyForRelease re-reads the vault copy of a file offloaded in an
// earlier pass before its camera copy may go, and records that it did.
func (d *Dock) verifyForRelease(ctx context.Context, s *session, f camFile, it evidence.Item) error {
	if err := d.verify(ctx, it.Digest); err != nil {
		d.recordVerifyFailed(ctx, s, f, it, err)
		return fmt.Errorf("verify %s before release: %w", f.Rel, err)
	}
	det := s.fileDetails(f, d.now())
	det["verified_size"] = fmt.Sprint(it.Size)
	det["before"] = "release"
	_, err := d.vault.Append(ctx, evidence.CustodyEvent{Actor: s.actor, Action: evidence.ActionVerified, Item: it.Digest, Details: det})
	return err
}

// release deletes the camera's copy of a verified file whose custody events
// are durable, then records the release. The file must still be the one
// that was copied: a camera that rewrote it keeps the new bytes.
func (d *Dock) release(ctx context.Context, s *session, f camFile, fp *fileProgress, rep FileReport) FileReport {
	kept := func(why string) FileReport {
		d.setFile(fp, FileKept, why)
		rep.State, rep.Err = FileKept, errors.New(why)
		return rep
	}
	if ctx.Err() != nil {
		return kept("not released: " + context.Cause(ctx).Error())
	}
	info, err := s.root.Lstat(f.Rel)
	switch {
	case err != nil:
		return kept(fmt.Sprintf("not released: %v", err))
	case !info.Mode().IsRegular() || info.Size() != f.Size || !info.ModTime().Equal(f.Mtime):
		return kept("not released: the file changed after it was copied")
	}
	// The intent is written before the delete, so a crash between the
	// delete and its custody event is mended on the next dock.
	if d.state != nil {
		if err := d.state.Put(ctx, releasingKey(s.dev.Serial, f.Rel), []byte(rep.Item.Digest.String())); err != nil {
			return kept(fmt.Sprintf("not released: record intent: %v", err))
		}
	}
	if err := s.root.Remove(f.Rel); err != nil {
		d.clearRelease(ctx, s, f.Rel)
		return kept(fmt.Sprintf("not released: delete: %v", err))
	}
	det := s.fileDetails(f, d.now())
	det["policy"] = string(s.profile.Release)
	if _, err := d.vault.Append(context.WithoutCancel(ctx), evidence.CustodyEvent{Actor: s.actor, Action: evidence.ActionReleased, Item: rep.Item.Digest, Details: det}); err != nil {
		// The intent stays, so the next dock records the release.
		d.log.Error("record release", "bay", s.bay, "path", f.Rel, "err", err)
		rep.Err = err
	} else {
		d.clearRelease(ctx, s, f.Rel)
	}
	d.setFile(fp, FileReleased, "")
	d.setDigest(fp, rep.Item.Digest)
	rep.State = FileReleased
	return rep
}

func (d *Dock) clearRelease(ctx context.Context, s *session, rel string) {
	if d.state == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if err := d.state.Delete(ctx, releasingKey(s.dev.Serial, rel)); err != nil {
		d.log.Warn("clear release intent", "bay", s.bay, "path", rel, "err", err)
	}
	if err := d.state.Delete(ctx, resumeKey(s.dev.Serial, rel)); err != nil {
		d.log.Warn("clear resume point", "bay", s.bay, "path", rel, "err", err)
	}
}

// recoverReleases finishes releases a crash cut short: a camera file that
// is gone with its intent still recorded gets its released event now.
func (d *Dock) recoverReleases(ctx context.Context, s *session) {
	if d.state == nil {
		return
	}
	prefix := releasingKey(s.dev.Serial, "")
	pending := map[string]string{}
	if err := d.state.Scan(prefix, func(k string, v []byte) bool {
		pending[k[len(prefix):]] = string(v)
		return true
	}); err != nil {
		d.log.Warn("read release intents", "bay", s.bay, "err", err)
		return
	}
	for rel, hexDigest := range pending {
		_, err := s.root.Lstat(rel)
		if !errors.Is(err, fs.ErrNotExist) {
			// Still on the camera: the delete never happened; the pass
			// handles the file as usual.
			d.clearIntent(ctx, s, rel)
			continue
		}
		dg, perr := evidence.ParseDigest(hexDigest)
		if perr != nil {
			d.clearIntent(ctx, s, rel)
			continue
		}
		if d.releaseRecorded(s, dg, rel) {
			// The stop came after the event, before the intent was cleared.
			d.clearRelease(ctx, s, rel)
			continue
		}
		det := s.fileDetails(camFile{Rel: rel}, d.now())
		delete(det, "camera_time")
		delete(det, "size")
		det["policy"] = string(s.profile.Release)
		det["recovered"] = "the appliance stopped between deleting the file and recording its release"
		if _, err := d.vault.Append(ctx, evidence.CustodyEvent{Actor: s.actor, Action: evidence.ActionReleased, Item: dg, Details: det}); err != nil {
			d.log.Error("record recovered release", "bay", s.bay, "path", rel, "err", err)
			continue
		}
		d.clearRelease(ctx, s, rel)
	}
}

func (d *Dock) clearIntent(ctx context.Context, s *session, rel string) {
	if err := d.state.Delete(ctx, releasingKey(s.dev.Serial, rel)); err != nil {
		d.log.Warn("clear release intent", "bay", s.bay, "path", rel, "err", err)
	}
}

// eventReader is what releaseRecorded asks of a vault that can list an
// item's events (the daemon's can; a vault that cannot is never asked).
type eventReader interface {
	ItemEvents(d evidence.Digest) ([]evidence.CustodyEvent, error)
}

// releaseRecorded says whether this device's file rel was last verified
// and then released: its release reached the chain already.
func (d *Dock) releaseRecorded(s *session, dg evidence.Digest, rel string) bool {
	er, ok := d.vault.(eventReader)
	if !ok {
		return false
	}
	evs, err := er.ItemEvents(dg)
	if err != nil {
		return false
	}
	released := false
	for _, e := range evs {
		if e.Details["camera_path"] != rel || e.Details["serial"] != s.dev.Serial {
			continue
		}
		switch e.Action {
		case evidence.ActionVerified:
			released = false
		case evidence.ActionReleased:
			released = true
		}
	}
	return released
}
