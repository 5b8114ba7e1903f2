// Package fsdir copies evidence into a directory, typically an NFS or SMB
// mount of central storage; it is the embedded default target. Files land
// under the same content-addressed keys as in S3, are written to a temp
// name, fsynced, renamed into place and made read-only, and are never
// overwritten. Verification re-reads the stored copy and hashes it.
package fsdir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/time/rate"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/target"
)

// Config says where to store evidence.
type Config struct {
	// Root must exist; a missing root is reported, not created, since it
	// usually means the share is not mounted.
	Root string
	// Limiter caps write bandwidth in bytes per second; nil: no cap.
	Limiter *rate.Limiter
	Logger  *slog.Logger
}

// Target stores evidence under one directory.
type Target struct {
	cfg Config
}

var _ target.Target = (*Target)(nil)

// New checks cfg; it does not touch the directory.
func New(cfg Config) (*Target, error) {
	if cfg.Root == "" {
		return nil, fmt.Errorf("directory target: 'root' is empty")
	}
	if !filepath.IsAbs(cfg.Root) {
		return nil, fmt.Errorf("directory target: 'root' must be an absolute path, got %q", cfg.Root)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Target{cfg: cfg}, nil
}

// Name identifies the target in receipts and logs.
func (t *Target) Name() string { return "file://" + t.cfg.Root }

// Path is where an item's bytes are stored.
func (t *Target) Path(d evidence.Digest) string {
	return filepath.Join(t.cfg.Root, filepath.FromSlash(target.Key(d)))
}

// CheckRoot fails with a classified error unless the root is a directory.
func (t *Target) CheckRoot() error {
	st, err := os.Stat(t.cfg.Root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return target.Errorf(target.ClassBucketMissing, "directory target %s does not exist (share not mounted?)", t.cfg.Root)
	case err != nil:
		return classify(fmt.Errorf("stat %s: %w", t.cfg.Root, err))
	case !st.IsDir():
		return target.Errorf(target.ClassBucketMissing, "directory target %s is not a directory", t.cfg.Root)
	}
	return nil
}

// Put stores obj and its manifest. An intact copy already there is kept and
// nothing is written; a copy that does not match is reported, never replaced.
func (t *Target) Put(ctx context.Context, obj target.Object, _ target.Checkpoints) (target.Receipt, error) {
	rc := target.Receipt{Target: t.Name(), Key: target.Key(obj.Digest), ManifestKey: target.ManifestKey(obj.Digest), Size: obj.Size}
	if err := t.CheckRoot(); err != nil {
		return rc, err
	}
	dst := t.Path(obj.Digest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return rc, classify(fmt.Errorf("make directory for %s: %w", rc.Key, err))
	}
	removeStaleTemps(dst)
	switch _, err := os.Lstat(dst); {
	case err == nil:
		if _, err := t.Verify(ctx, obj, rc); err != nil {
			return rc, err
		}
		rc.Existing = true
	case errors.Is(err, fs.ErrNotExist):
		if err := t.copyIn(ctx, obj, dst); err != nil {
			return rc, err
		}
		rc.BytesSent = obj.Size
	default:
		return rc, classify(fmt.Errorf("stat %s: %w", dst, err))
	}
	rc.Checksum = obj.Digest.String()
	if err := t.putManifest(obj); err != nil {
		return rc, err
	}
	return rc, nil
}

// copyIn writes the vault file to dst through a temp file, checking on the
// way that the bytes are the ones the digest names.
func (t *Target) copyIn(ctx context.Context, obj target.Object, dst string) error {
	src, err := os.Open(obj.Path)
	if err != nil {
		return fmt.Errorf("open %s: %w", obj.Path, err)
	}
	defer src.Close()
	h := evidence.NewHasher()
	body := target.LimitReader(ctx, target.ProgressReader(io.TeeReader(src, h), obj.Progress), t.cfg.Limiter)
	return writeAtomic(dst, func(w io.Writer) error {
		if _, err := io.Copy(w, body); err != nil {
			return err
		}
		if h.Size() != obj.Size || h.Sum() != obj.Digest {
			return target.Errorf(target.ClassIntegrity, "vault file %s: %d bytes hashing to %s, item is %d bytes, %s",
				obj.Path, h.Size(), h.Sum().Short(), obj.Size, obj.Digest.Short())
		}
		return nil
	})
}

// putManifest writes the manifest beside the object. A different manifest
// already there is replaced atomically: it is the newer view of the same
// item's custody, and the custody chain itself keeps every event.
func (t *Target) putManifest(obj target.Object) error {
	dst := t.Path(obj.Digest) + ".manifest.json"
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, obj.Manifest) {
		return nil
	}
	return writeAtomic(dst, func(w io.Writer) error {
		_, err := w.Write(obj.Manifest)
		return err
	})
}

// writeAtomic makes dst appear whole or not at all: temp file in the same
// directory, fsync, read-only, rename, fsync of the directory.
func writeAtomic(dst string, fill func(io.Writer) error) error {
	dir := filepath.Dir(dst)
	f, err := os.CreateTemp(dir, tempPrefix(dst)+"*")
	if err != nil {
		return classify(fmt.Errorf("create temp file in %s: %w", dir, err))
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := fill(f); err != nil {
		f.Close()
		return classify(fmt.Errorf("write %s: %w", dst, err))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return classify(fmt.Errorf("fsync %s: %w", tmp, err))
	}
	if err := f.Close(); err != nil {
		return classify(fmt.Errorf("close %s: %w", tmp, err))
	}
	if err := os.Chmod(tmp, 0o444); err != nil {
		return classify(fmt.Errorf("make %s read-only: %w", tmp, err))
	}
	if err := os.Rename(tmp, dst); err != nil {
		return classify(fmt.Errorf("rename %s to %s: %w", tmp, dst, err))
	}
	d, err := os.Open(dir)
	if err != nil {
		return classify(fmt.Errorf("open %s: %w", dir, err))
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return classify(fmt.Errorf("fsync %s: %w", dir, err))
	}
	return nil
}

func tempPrefix(dst string) string { return "." + filepath.Base(dst) + ".tmp-" }

// removeStaleTemps deletes temp files a crashed earlier copy of dst left.
func removeStaleTemps(dst string) {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), tempPrefix(dst)+"*"))
	for _, m := range matches {
		os.Remove(m)
	}
}

// Verify re-reads the stored copy and hashes it.
func (t *Target) Verify(ctx context.Context, obj target.Object, rc target.Receipt) (target.Receipt, error) {
	if err := t.CheckRoot(); err != nil {
		return rc, err
	}
	p := t.Path(obj.Digest)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return rc, target.Errorf(target.ClassIntegrity, "verify %s: file is missing", p)
	}
	if err != nil {
		return rc, classify(fmt.Errorf("open %s: %w", p, err))
	}
	defer f.Close()
	got, n, err := evidence.DigestOf(ctxReader{ctx, f})
	if err != nil {
		return rc, classify(fmt.Errorf("read %s: %w", p, err))
	}
	if n != obj.Size || got != obj.Digest {
		return rc, target.Errorf(target.ClassIntegrity, "verify %s: %d bytes hashing to %s, want %d bytes, %s", p, n, got.Short(), obj.Size, obj.Digest.Short())
	}
	rc.Target, rc.Key, rc.ManifestKey = t.Name(), target.Key(obj.Digest), target.ManifestKey(obj.Digest)
	rc.Size, rc.Checksum = n, got.String()
	return rc, nil
}

// ctxReader stops a long re-hash when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// classify sorts file-system errors: permission problems are the share's
// access rights (auth); I/O errors and stale handles are the link to the
// server (network).
func classify(err error) error {
	var te *target.Error
	switch {
	case errors.As(err, &te):
		return err
	case errors.Is(err, fs.ErrPermission):
		return &target.Error{Class: target.ClassAuth, Err: err}
	case errors.Is(err, fs.ErrNotExist):
		return &target.Error{Class: target.ClassBucketMissing, Err: err}
	case isLinkError(err):
		return &target.Error{Class: target.ClassNetwork, Err: err}
	}
	return &target.Error{Class: target.ClassOther, Err: err}
}

func isLinkError(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EIO, syscall.ESTALE, syscall.ETIMEDOUT, syscall.EHOSTDOWN, syscall.ENOTCONN} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}
