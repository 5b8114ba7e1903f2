package s3

import (
	"context"

	"github.com/minio/minio-go/v7"

	"github.com/edgetriage/edgetriage/sync/target"
)

// CopyIn stores obj by a server-side copy from src (a bucket on the same
// server, such as a station's own push bucket), when src holds the item
// intact by its HEAD (size, SHA-256 metadata and checksum): the bytes do not
// cross the network again. found is false when src does not hold the item
// or holds it in a form that cannot be copied in one request (over 5 GiB);
// the caller then fetches it. The copy gets COMPLIANCE retention and obj's
// manifest beside it, as Put gives.
func (t *Target) CopyIn(ctx context.Context, src *Target, obj target.Object) (rc target.Receipt, found bool, err error) {
	rc = target.Receipt{Target: t.Name(), Key: t.Key(obj.Digest), ManifestKey: t.ManifestKey(obj.Digest)}
	if err := t.CheckBucket(ctx); err != nil {
		return rc, false, err
	}
	srcKey := src.Key(obj.Digest)
	info, ok, err := src.stat(ctx, srcKey)
	if err != nil || !ok || obj.Size > maxSinglePut {
		return rc, false, err
	}
	if err := matches(info, obj, ""); err != nil {
		return rc, false, err
	}
	have, exists, err := t.stat(ctx, rc.Key)
	if err != nil {
		return rc, true, err
	}
	if exists {
		if err := matches(have, obj, info.ChecksumSHA256); err != nil {
			return rc, true, err
		}
		rc.Existing, rc.VersionID, rc.Checksum = true, have.VersionID, have.ChecksumSHA256
	} else {
		dst := minio.CopyDestOptions{Bucket: t.cfg.Bucket, Object: rc.Key, ReplaceMetadata: true,
			UserMetadata: map[string]string{MetaSHA256: obj.Digest.String()}, Mode: minio.Compliance,
			RetainUntilDate: t.retainUntil(), ContentType: "application/octet-stream"}
		if obj.Hold {
			dst.LegalHold = minio.LegalHoldEnabled
		}
		up, err := t.client.CopyObject(ctx, dst, minio.CopySrcOptions{Bucket: src.cfg.Bucket, Object: srcKey, VersionID: info.VersionID})
		if err != nil {
			return rc, true, t.wrap(err, "copy %s/%s to %s", src.cfg.Bucket, srcKey, rc.Key)
		}
		rc.VersionID, rc.Checksum = up.VersionID, up.ChecksumSHA256
	}
	rc.Size = obj.Size
	if err := t.putManifest(ctx, obj, !rc.Existing); err != nil {
		return rc, true, err
	}
	return rc, true, t.lockDown(ctx, obj, &rc)
}
