package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/target"
)

// ErrNotFound is wrapped when a key does not exist in the bucket.
var ErrNotFound = errors.New("not in the bucket")

// Open reads the stored bytes of item d (its latest version).
func (t *Target) Open(ctx context.Context, d evidence.Digest) (io.ReadCloser, int64, error) {
	key := t.Key(d)
	info, found, err := t.stat(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, fmt.Errorf("read %s: %w", key, ErrNotFound)
	}
	obj, err := t.client.GetObject(ctx, t.cfg.Bucket, key, minio.GetObjectOptions{VersionID: info.VersionID})
	if err != nil {
		return nil, 0, t.wrap(err, "read %s", key)
	}
	return obj, info.Size, nil
}

// GetDocument reads a small document (a manifest, a receipt) of at most
// limit bytes; a larger one is an integrity error, not a truncated read.
func (t *Target) GetDocument(ctx context.Context, key string, limit int64) ([]byte, error) {
	info, found, err := t.stat(ctx, key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("read %s: %w", key, ErrNotFound)
	}
	if info.Size > limit {
		return nil, target.Errorf(target.ClassIntegrity, "read %s: %d bytes, more than the %d a document may have", key, info.Size, limit)
	}
	obj, err := t.client.GetObject(ctx, t.cfg.Bucket, key, minio.GetObjectOptions{VersionID: info.VersionID})
	if err != nil {
		return nil, t.wrap(err, "read %s", key)
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, limit+1))
	if err != nil {
		return nil, t.wrap(err, "read %s", key)
	}
	return b, nil
}

// DocumentRetention reads the retention of any key, as Retention does for
// an item's bytes.
func (t *Target) DocumentRetention(ctx context.Context, key string) (mode string, until time.Time, err error) {
	if mode, until, err = t.objectRetention(ctx, key); err != nil {
		return "", time.Time{}, t.wrap(err, "read retention of %s", key)
	}
	return mode, until, nil
}
