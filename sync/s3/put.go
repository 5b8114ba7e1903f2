package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/target"
)

// Put stores obj and its manifest under retention, sets its legal hold if
// asked, and reads retention and hold back. An object already stored under
// the key is checked instead of sent again: in a versioned (Object Lock)
// bucket a second PUT would make a second copy.
func (t *Target) Put(ctx context.Context, obj target.Object, cps target.Checkpoints) (target.Receipt, error) {
	rc := target.Receipt{Target: t.Name(), Key: t.Key(obj.Digest), ManifestKey: t.ManifestKey(obj.Digest)}
	if err := t.CheckBucket(ctx); err != nil {
		return rc, err
	}
	info, found, err := t.stat(ctx, rc.Key)
	if err != nil {
		return rc, err
	}
	switch {
	case found:
		if err := matches(info, obj, ""); err != nil {
			return rc, err
		}
		rc.Existing, rc.VersionID, rc.Checksum = true, info.VersionID, info.ChecksumSHA256
	case obj.Size >= t.cfg.MultipartThreshold:
		if rc, err = t.putMultipart(ctx, obj, rc, cps); err != nil {
			return rc, err
		}
	default:
		if rc, err = t.putSingle(ctx, obj, rc); err != nil {
			return rc, err
		}
	}
	rc.Size = obj.Size
	if cps != nil {
		if err := cps.DeleteCheckpoint(ctx, obj.Digest); err != nil {
			return rc, fmt.Errorf("drop multipart checkpoint of %s: %w", obj.Digest.Short(), err)
		}
	}
	if err := t.putManifest(ctx, obj, !rc.Existing); err != nil {
		return rc, err
	}
	if err := t.lockDown(ctx, obj, &rc); err != nil {
		return rc, err
	}
	return rc, nil
}

func (t *Target) retainUntil() time.Time {
	return t.cfg.Now().Add(t.cfg.Retention).UTC().Truncate(time.Second)
}

// putOptions are the headers every object and multipart upload carries.
func (t *Target) putOptions(obj target.Object, contentType string) minio.PutObjectOptions {
	opts := minio.PutObjectOptions{
		ContentType:     contentType,
		Mode:            minio.Compliance,
		RetainUntilDate: t.retainUntil(),
		UserMetadata:    map[string]string{MetaSHA256: obj.Digest.String()},
		// The payload hash is the ingest digest, passed in; minio-go must not
		// stream-sign (and so re-hash) the body itself.
		DisableContentSha256: true,
	}
	if obj.Hold {
		opts.LegalHold = minio.LegalHoldEnabled
	}
	return opts
}

func (t *Target) putSingle(ctx context.Context, obj target.Object, rc target.Receipt) (target.Receipt, error) {
	f, err := os.Open(obj.Path)
	if err != nil {
		return rc, fmt.Errorf("open %s: %w", obj.Path, err)
	}
	defer f.Close()
	opts := t.putOptions(obj, "application/octet-stream")
	opts.UserMetadata["x-amz-checksum-sha256"] = digestB64(obj.Digest)
	body := t.body(ctx, io.LimitReader(f, obj.Size), obj.Progress)
	info, err := t.core.PutObject(ctx, t.cfg.Bucket, rc.Key, body, obj.Size, "", obj.Digest.String(), opts)
	if err != nil {
		return rc, t.wrap(err, "put %s", rc.Key)
	}
	if info.ChecksumSHA256 != "" && info.ChecksumSHA256 != digestB64(obj.Digest) {
		return rc, target.Errorf(target.ClassIntegrity, "put %s: server computed checksum %s, want %s", rc.Key, info.ChecksumSHA256, digestB64(obj.Digest))
	}
	rc.VersionID, rc.Checksum, rc.BytesSent = info.VersionID, digestB64(obj.Digest), obj.Size
	return rc, nil
}

func (t *Target) body(ctx context.Context, r io.Reader, progress func(int64)) io.Reader {
	return target.LimitReader(ctx, target.ProgressReader(r, progress), t.cfg.Limiter)
}

// putManifest writes the manifest beside the object unless the same bytes
// are already there. A changed manifest (more custody events since) becomes
// a new version; the earlier one stays, locked like the object. After a
// fresh object upload there can be no manifest yet (it is always written
// second), so the check is skipped.
func (t *Target) putManifest(ctx context.Context, obj target.Object, fresh bool) error {
	return t.putDocument(ctx, t.ManifestKey(obj.Digest), obj.Manifest, obj.Digest, !fresh)
}

// PutDocument stores a small JSON document about item d (a receipt, a
// manifest) under key with COMPLIANCE retention, unless the same bytes are
// already there; a different document becomes a new version.
func (t *Target) PutDocument(ctx context.Context, key string, body []byte, d evidence.Digest) error {
	if err := t.CheckBucket(ctx); err != nil {
		return err
	}
	if err := t.putDocument(ctx, key, body, d, true); err != nil {
		return err
	}
	_, err := t.ensureRetention(ctx, key)
	return err
}

func (t *Target) putDocument(ctx context.Context, key string, body []byte, d evidence.Digest, check bool) error {
	sum := sha256.Sum256(body)
	if check {
		info, found, err := t.stat(ctx, key)
		if err != nil {
			return err
		}
		if found && info.ChecksumSHA256 == b64(sum[:]) {
			return nil
		}
	}
	opts := t.putOptions(target.Object{Digest: d}, "application/json")
	opts.UserMetadata["x-amz-checksum-sha256"] = b64(sum[:])
	opts.UserMetadata["edgetriage-item"] = d.String()
	delete(opts.UserMetadata, MetaSHA256)
	opts.LegalHold = ""
	_, err := t.core.PutObject(ctx, t.cfg.Bucket, key, bytes.NewReader(body), int64(len(body)), "", hex.EncodeToString(sum[:]), opts)
	if err != nil {
		return t.wrap(err, "put %s", key)
	}
	return nil
}

// lockDown makes sure the object is under COMPLIANCE retention and, if
// asked, legal hold, by reading both back from the server.
func (t *Target) lockDown(ctx context.Context, obj target.Object, rc *target.Receipt) error {
	until, err := t.ensureRetention(ctx, rc.Key)
	if err != nil {
		return err
	}
	rc.RetainUntil = until
	if !obj.Hold {
		return nil
	}
	if err := t.SetLegalHold(ctx, obj.Digest, true); err != nil {
		return err
	}
	on, err := t.LegalHold(ctx, obj.Digest)
	if err != nil {
		return err
	}
	if !on {
		return target.Errorf(target.ClassLockDisabled, "legal hold on %s: set but reads back OFF", rc.Key)
	}
	rc.Hold = true
	return nil
}

// SetLegalHold turns the legal hold of an item's object on or off.
func (t *Target) SetLegalHold(ctx context.Context, d evidence.Digest, on bool) error {
	status := minio.LegalHoldDisabled
	if on {
		status = minio.LegalHoldEnabled
	}
	key := t.Key(d)
	if err := t.client.PutObjectLegalHold(ctx, t.cfg.Bucket, key, minio.PutObjectLegalHoldOptions{Status: &status}); err != nil {
		return t.wrap(err, "set legal hold of %s to %s", key, status)
	}
	return nil
}

// LegalHold reads an item's legal hold back from the server.
func (t *Target) LegalHold(ctx context.Context, d evidence.Digest) (bool, error) {
	key := t.Key(d)
	status, err := t.client.GetObjectLegalHold(ctx, t.cfg.Bucket, key, minio.GetObjectLegalHoldOptions{})
	if err != nil {
		if errorResponse(err).Code == "NoSuchObjectLockConfiguration" {
			return false, nil
		}
		return false, t.wrap(err, "read legal hold of %s", key)
	}
	return status != nil && *status == minio.LegalHoldEnabled, nil
}

// Retention reads an item's retention mode and date back from the server.
func (t *Target) Retention(ctx context.Context, d evidence.Digest) (mode string, until time.Time, err error) {
	key := t.Key(d)
	if mode, until, err = t.objectRetention(ctx, key); err != nil {
		return "", time.Time{}, t.wrap(err, "read retention of %s", key)
	}
	return mode, until, nil
}

// ensureRetention makes sure key is under COMPLIANCE retention and returns
// its retain-until date as the server reports it.
func (t *Target) ensureRetention(ctx context.Context, key string) (time.Time, error) {
	mode, until, err := t.objectRetention(ctx, key)
	if err != nil && Classify(err) != target.ClassLockDisabled {
		return time.Time{}, t.wrap(err, "read retention of %s", key)
	}
	if mode == string(minio.Compliance) && !until.IsZero() {
		return until.UTC(), nil
	}
	// Stored before retention was configured, or by a server that ignored
	// the headers: set it now, then it can never be undone.
	m, u := minio.Compliance, t.retainUntil()
	if err := t.client.PutObjectRetention(ctx, t.cfg.Bucket, key, minio.PutObjectRetentionOptions{Mode: &m, RetainUntilDate: &u}); err != nil {
		return time.Time{}, t.wrap(err, "set retention of %s", key)
	}
	return u, nil
}

// stat HEADs key with checksum mode on; found is false when it does not exist.
func (t *Target) stat(ctx context.Context, key string) (minio.ObjectInfo, bool, error) {
	opts := minio.StatObjectOptions{}
	opts.Checksum = true
	info, err := t.client.StatObject(ctx, t.cfg.Bucket, key, opts)
	if err != nil {
		if code := errorResponse(err).Code; code == "NoSuchKey" || code == "NotFound" {
			return info, false, nil
		}
		return info, false, t.wrap(err, "head %s", key)
	}
	return info, true, nil
}

// Verify HEADs the stored object: its size, its SHA-256 in metadata, and
// its S3 checksum, which is the item digest for a single PUT or, for a
// multipart object, the checksum of part checksums recorded at upload
// (rc.Checksum, if the caller kept the receipt).
func (t *Target) Verify(ctx context.Context, obj target.Object, rc target.Receipt) (target.Receipt, error) {
	key := t.Key(obj.Digest)
	info, found, err := t.stat(ctx, key)
	if err != nil {
		return rc, err
	}
	if !found {
		return rc, target.Errorf(target.ClassIntegrity, "verify %s: object is missing", key)
	}
	if err := matches(info, obj, rc.Checksum); err != nil {
		return rc, err
	}
	rc.Target, rc.Key, rc.ManifestKey = t.Name(), key, t.ManifestKey(obj.Digest)
	rc.Size, rc.Checksum, rc.VersionID = info.Size, info.ChecksumSHA256, info.VersionID
	return rc, nil
}

// matches checks a HEAD result against the item. A single-PUT object's S3
// checksum is the item digest itself; a multipart object's is composite
// ("<base64>-<parts>"), so it must equal the composite recorded at upload
// when known, and the full digest must be in its metadata.
func matches(info minio.ObjectInfo, obj target.Object, wantComposite string) error {
	if info.Size != obj.Size {
		return target.Errorf(target.ClassIntegrity, "%s: stored size %d, item size %d", info.Key, info.Size, obj.Size)
	}
	meta := ""
	for k, v := range info.UserMetadata {
		if strings.EqualFold(k, MetaSHA256) {
			meta = v
		}
	}
	if meta != "" && meta != obj.Digest.String() {
		return target.Errorf(target.ClassIntegrity, "%s: stored digest %s, item digest %s", info.Key, meta, obj.Digest)
	}
	sum := info.ChecksumSHA256
	switch {
	case sum == digestB64(obj.Digest):
		return nil
	case sum == "":
		return target.Errorf(target.ClassIntegrity, "%s: server reports no SHA-256 checksum", info.Key)
	case !strings.Contains(sum, "-"):
		return target.Errorf(target.ClassIntegrity, "%s: stored checksum %s, item checksum %s", info.Key, sum, digestB64(obj.Digest))
	case meta == "":
		return target.Errorf(target.ClassIntegrity, "%s: multipart object without %s metadata", info.Key, MetaSHA256)
	case wantComposite != "" && sum != wantComposite:
		return target.Errorf(target.ClassIntegrity, "%s: stored checksum %s, recorded at upload %s", info.Key, sum, wantComposite)
	}
	return nil
}
