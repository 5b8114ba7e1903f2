package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"syscall"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/media"
)

// staged is a copy of incoming bytes in tmp/, hashed and fsynced, not yet
// part of the vault.
type staged struct {
	tmp      string
	digest   evidence.Digest
	size     int64
	problems []evidence.Problem
}

func (v *Vault) discard(st staged) {
	if err := os.Remove(st.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		v.log.Warn("remove staged copy", "path", st.tmp, "err", err)
	}
}

// stage copies r into a new temp file while hashing it, so the bytes are read
// once, and fsyncs the copy.
func (v *Vault) stage(ctx context.Context, r io.Reader) (staged, error) {
	if v.verifyOnly {
		return staged{}, ErrReadOnly
	}
	if reason := v.IntakeStopped(); reason != "" {
		return staged{}, fmt.Errorf("%w: %s", ErrIntakeStopped, reason)
	}
	f, err := os.CreateTemp(filepath.Join(v.dir, "tmp"), "incoming-*")
	if err != nil {
		return staged{}, fmt.Errorf("stage: %w", err)
	}
	st := staged{tmp: f.Name()}
	digest, size, copyErr := copyHashing(ctx, &v.chunks, f, r)
	syncErr := f.Sync()
	closeErr := f.Close()
	if err := errors.Join(copyErr, syncErr, closeErr); err != nil {
		v.discard(st)
		return staged{}, err
	}
	st.digest, st.size = digest, size
	if st.size == 0 {
		st.problems = append(st.problems, evidence.Problem{Code: evidence.ProblemEmpty, Detail: "the source had no bytes"})
	}
	return st, nil
}

// IngestReader stores everything r yields as one item. It reports whether
// the bytes were new; bytes the vault already holds become one more custody
// event on the existing item.
func (v *Vault) IngestReader(ctx context.Context, r io.Reader, in evidence.Intake) (evidence.Item, bool, error) {
	st, err := v.stage(ctx, r)
	if err != nil {
		return evidence.Item{}, false, fmt.Errorf("ingest %s: %w", displayName(in), err)
	}
	return v.commitStaged(ctx, st, in)
}

// IngestFile stores the regular file at path. Symbolic links are refused,
// not followed. A file that changes while it is read is stored as the bytes
// that were read and marked changed-on-read.
func (v *Vault) IngestFile(ctx context.Context, path string, in evidence.Intake) (evidence.Item, bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, syscall.ELOOP) {
		return evidence.Item{}, false, fmt.Errorf("ingest %s: %w", path, ErrSymlink)
	}
	if err != nil {
		return evidence.Item{}, false, fmt.Errorf("ingest %s: %w", path, err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return evidence.Item{}, false, fmt.Errorf("ingest %s: %w", path, err)
	}
	if !before.Mode().IsRegular() {
		return evidence.Item{}, false, fmt.Errorf("ingest %s: not a regular file (%s)", path, before.Mode().Type())
	}
	if in.OriginalName == "" {
		in.OriginalName = path
	}
	st, err := v.stage(ctx, f)
	if err != nil {
		return evidence.Item{}, false, fmt.Errorf("ingest %s: read: %w", path, err)
	}
	if changed := changedWhileRead(f, before, st.size); changed != "" {
		st.problems = append(st.problems, evidence.Problem{Code: evidence.ProblemChangedOnRead, Detail: changed})
	}
	return v.commitStaged(ctx, st, in)
}

// ErrSymlink is returned for a path that is a symbolic link.
var ErrSymlink = errors.New("is a symbolic link; links are not followed")

func changedWhileRead(f *os.File, before os.FileInfo, read int64) string {
	after, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("could not re-check the source: %v", err)
	}
	return evidence.ChangedWhileRead(before, after, read)
}

func displayName(in evidence.Intake) string {
	if in.OriginalName != "" {
		return in.OriginalName
	}
	return "stream"
}

// commitStaged makes a staged copy part of the vault: the bytes are moved to
// their content address first and the record and its custody event are
// committed after, so a crash in between leaves an unrecorded file that the
// next Open removes, never a record without its bytes.
func (v *Vault) commitStaged(ctx context.Context, st staged, in evidence.Intake) (evidence.Item, bool, error) {
	item := v.newItem(st, in)
	if media.IsMedia(item.Kind) && v.probe != nil {
		m, err := v.probe(ctx, st.tmp)
		if err != nil {
			v.discard(st)
			return evidence.Item{}, false, fmt.Errorf("ingest %s: %w", displayName(in), err)
		}
		item.Media = m
		if m.Error != "" {
			item.Problems = append(item.Problems, evidence.Problem{Code: evidence.ProblemUndecodable, Detail: m.Error})
		}
	}
	if err := v.place(st); err != nil {
		v.discard(st)
		return evidence.Item{}, false, fmt.Errorf("ingest %s: %w", displayName(in), err)
	}
	var stored evidence.Item
	var isNew bool
	err := v.update(ctx, func(tx *bolt.Tx) error {
		var err error
		stored, isNew, err = v.recordIngest(tx, item, in)
		return err
	})
	if err != nil {
		return evidence.Item{}, false, fmt.Errorf("ingest %s: %w", displayName(in), err)
	}
	return stored, isNew, nil
}

func (v *Vault) newItem(st staged, in evidence.Intake) evidence.Item {
	kind := in.Kind
	if kind == "" {
		kind = media.KindOf(in.OriginalName)
	}
	return evidence.Item{
		Digest: st.digest, Size: st.size, Kind: kind, State: evidence.StateStored,
		Source: in.Source, Officer: in.Officer, OriginalName: in.OriginalName,
		CapturedStart: in.CapturedStart.UTC(), CapturedEnd: in.CapturedEnd.UTC(),
		IngestedAt: v.now().UTC(), Parent: in.Parent, Relation: in.Relation,
		Problems: append(append([]evidence.Problem(nil), in.Problems...), st.problems...),
		Labels:   maps.Clone(in.Labels),
	}
}

// place moves a staged copy to its content address, read-only. An object
// already there holds the same bytes by construction (or verify will say
// otherwise), so the staged copy is dropped rather than written over it.
func (v *Vault) place(st staged) error {
	dst := v.ObjectPath(st.digest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	if _, err := os.Lstat(dst); err == nil {
		v.discard(st)
		return nil
	}
	if err := os.Chmod(st.tmp, 0o444); err != nil {
		return err
	}
	// Link, not rename, so an object that appeared since the check is
	// never replaced.
	if err := os.Link(st.tmp, dst); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	v.discard(st)
	return syncDir(filepath.Dir(dst))
}

// recordIngest writes the record of a newly placed item, or, when the vault
// already has these bytes, records that they arrived again.
func (v *Vault) recordIngest(tx *bolt.Tx, item evidence.Item, in evidence.Intake) (evidence.Item, bool, error) {
	actor := in.Actor
	if actor == "" {
		actor = ActorAppliance
	}
	details := maps.Clone(in.Details)
	if details == nil {
		details = map[string]string{}
	}
	details["source"] = in.Source
	if in.OriginalName != "" {
		details["name"] = in.OriginalName
	}
	existing, found, err := getItemTx(tx, item.Digest)
	if err != nil {
		return evidence.Item{}, false, err
	}
	if found {
		action := evidence.ActionIngestedAgain
		if existing.State == evidence.StateRemoved {
			existing.State = evidence.StateStored
			details["restored"] = "the bytes were removed locally and have arrived again"
		}
		stored, err := v.putItemTx(tx, existing, actor, action, details)
		return stored, false, err
	}
	details["size"] = fmt.Sprint(item.Size)
	for _, p := range item.Problems {
		details["problem:"+p.Code] = p.Detail
	}
	stored, err := v.putItemTx(tx, item, actor, evidence.ActionIngested, details)
	return stored, true, err
}
