package s3

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/target"
)

// Source opens an item's bytes from offset to its end (an HTTP GET with a
// Range header, for central's pull).
type Source func(ctx context.Context, offset int64) (io.ReadCloser, error)

// Stream is an item whose bytes come from a Source instead of a vault file:
// central streams each item from its station straight into the bucket,
// without a local copy.
type Stream struct {
	Digest   evidence.Digest
	Size     int64
	Open     Source
	Manifest []byte
	Hold     bool
	// Observe, when set, is written every byte this call reads from the
	// source, in order. It has seen the whole item exactly when the
	// receipt's BytesSent equals Size (not resumed, not already stored).
	Observe io.Writer
}

// PutStream stores s like Put stores a vault file: under retention, with
// its manifest, checked against its digest before the upload is completed,
// and idempotent. A multipart upload resumes from its checkpoint: the parts
// the server holds are not read from the source again, and the SHA-256 over
// them is restored from the checkpoint's hash state.
func (t *Target) PutStream(ctx context.Context, s Stream, cps target.Checkpoints) (target.Receipt, error) {
	obj := target.Object{Digest: s.Digest, Size: s.Size, Manifest: s.Manifest, Hold: s.Hold}
	rc := target.Receipt{Target: t.Name(), Key: t.Key(s.Digest), ManifestKey: t.ManifestKey(s.Digest)}
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
	case s.Size >= t.cfg.MultipartThreshold:
		if rc, err = t.putStreamParts(ctx, s, obj, rc, cps); err != nil {
			return rc, err
		}
	default:
		if rc, err = t.putStreamSingle(ctx, s, obj, rc); err != nil {
			return rc, err
		}
	}
	rc.Size = s.Size
	if cps != nil {
		if err := cps.DeleteCheckpoint(ctx, s.Digest); err != nil {
			return rc, fmt.Errorf("drop multipart checkpoint of %s: %w", s.Digest.Short(), err)
		}
	}
	if err := t.putManifest(ctx, obj, !rc.Existing); err != nil {
		return rc, err
	}
	return rc, t.lockDown(ctx, obj, &rc)
}

// putStreamSingle sends the item in one PUT whose signed payload hash and
// x-amz-checksum-sha256 are the item's digest: the server refuses any other
// bytes, so nothing wrong is ever stored under retention.
func (t *Target) putStreamSingle(ctx context.Context, s Stream, obj target.Object, rc target.Receipt) (target.Receipt, error) {
	src, err := s.Open(ctx, 0)
	if err != nil {
		return rc, fmt.Errorf("open source of %s: %w", s.Digest.Short(), err)
	}
	defer src.Close()
	h := sha256.New()
	body := io.TeeReader(io.LimitReader(src, s.Size), observer(h, s.Observe))
	opts := t.putOptions(obj, "application/octet-stream")
	opts.UserMetadata["x-amz-checksum-sha256"] = digestB64(s.Digest)
	info, err := t.core.PutObject(ctx, t.cfg.Bucket, rc.Key, t.body(ctx, body, nil), s.Size, "", s.Digest.String(), opts)
	if err != nil {
		return rc, t.wrap(err, "put %s", rc.Key)
	}
	if got := digestB64Sum(h); got != digestB64(s.Digest) {
		return rc, target.Errorf(target.ClassIntegrity, "put %s: the source sent bytes hashing to %s, want %s, and the server took them", rc.Key, got, digestB64(s.Digest))
	}
	if info.ChecksumSHA256 != "" && info.ChecksumSHA256 != digestB64(s.Digest) {
		return rc, target.Errorf(target.ClassIntegrity, "put %s: server computed checksum %s, want %s", rc.Key, info.ChecksumSHA256, digestB64(s.Digest))
	}
	rc.VersionID, rc.Checksum, rc.BytesSent = info.VersionID, digestB64(s.Digest), s.Size
	return rc, nil
}

func observer(h hash.Hash, also io.Writer) io.Writer {
	if also == nil {
		return h
	}
	return io.MultiWriter(h, also)
}

func digestB64Sum(h hash.Hash) string { return b64(h.Sum(nil)) }

// putStreamParts sends the parts the server does not hold yet, reading the
// source from the first of them on, and completes the upload only when the
// SHA-256 over all parts is the item's digest.
func (t *Target) putStreamParts(ctx context.Context, s Stream, obj target.Object, rc target.Receipt, cps target.Checkpoints) (target.Receipt, error) {
	cp, h, err := t.resumeStream(ctx, obj, rc.Key, cps)
	if err != nil {
		return rc, err
	}
	if cp.PartSize*maxParts < s.Size {
		return rc, fmt.Errorf("put %s: %d bytes need more than %d parts of %d bytes", rc.Key, s.Size, maxParts, cp.PartSize)
	}
	var off int64
	for _, p := range cp.Parts {
		off += p.Size
	}
	if off < s.Size {
		if err := t.sendStreamParts(ctx, s, &cp, h, off, &rc, cps); err != nil {
			return rc, err
		}
	}
	if got := digestB64Sum(h); got != digestB64(s.Digest) {
		_ = t.core.AbortMultipartUpload(ctx, t.cfg.Bucket, rc.Key, cp.UploadID)
		if cps != nil {
			_ = cps.DeleteCheckpoint(ctx, s.Digest)
		}
		return rc, target.Errorf(target.ClassIntegrity, "put %s: the source sent bytes hashing to %s, not the item's digest; upload dropped", rc.Key, got)
	}
	return t.completeParts(ctx, cp, rc)
}

func (t *Target) sendStreamParts(ctx context.Context, s Stream, cp *target.Checkpoint, h hash.Hash, off int64, rc *target.Receipt, cps target.Checkpoints) error {
	src, err := s.Open(ctx, off)
	if err != nil {
		return fmt.Errorf("open source of %s at %d: %w", s.Digest.Short(), off, err)
	}
	defer src.Close()
	buf := make([]byte, cp.PartSize)
	for n := len(cp.Parts) + 1; off < s.Size; n++ {
		b := buf[:min(cp.PartSize, s.Size-off)]
		if _, err := io.ReadFull(src, b); err != nil {
			return fmt.Errorf("read part %d of %s from its source: %w", n, s.Digest.Short(), err)
		}
		h.Write(b)
		if s.Observe != nil {
			s.Observe.Write(b)
		}
		sum := sha256.Sum256(b)
		part, err := t.sendPart(ctx, target.Object{Digest: s.Digest}, rc.Key, cp.UploadID, n, b, sum)
		if err != nil {
			return err
		}
		rc.PartsSent++
		rc.BytesSent += int64(len(b))
		off += int64(len(b))
		cp.Parts = append(cp.Parts, target.Part{Number: n, Size: int64(len(b)), ETag: strings.Trim(part.ETag, `"`), SHA256: b64(sum[:])})
		if cp.HashState, err = h.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
			return fmt.Errorf("save hash state of %s: %w", s.Digest.Short(), err)
		}
		if cps != nil {
			if err := cps.SaveCheckpoint(ctx, s.Digest, *cp); err != nil {
				return fmt.Errorf("save multipart checkpoint of %s: %w", s.Digest.Short(), err)
			}
		}
	}
	return nil
}

func (t *Target) completeParts(ctx context.Context, cp target.Checkpoint, rc target.Receipt) (target.Receipt, error) {
	composite := sha256.New()
	done := make([]minio.CompletePart, 0, len(cp.Parts))
	for _, p := range cp.Parts {
		sum, err := base64.StdEncoding.DecodeString(p.SHA256)
		if err != nil {
			return rc, fmt.Errorf("checkpoint of %s: part %d checksum %q: %w", rc.Key, p.Number, p.SHA256, err)
		}
		composite.Write(sum)
		done = append(done, minio.CompletePart{PartNumber: p.Number, ETag: p.ETag, ChecksumSHA256: p.SHA256})
	}
	info, err := t.core.CompleteMultipartUpload(ctx, t.cfg.Bucket, rc.Key, cp.UploadID, done, minio.PutObjectOptions{})
	if err != nil {
		return rc, t.wrap(err, "complete multipart upload of %s", rc.Key)
	}
	want := fmt.Sprintf("%s-%d", b64(composite.Sum(nil)), len(done))
	if info.ChecksumSHA256 != "" && info.ChecksumSHA256 != want {
		return rc, target.Errorf(target.ClassIntegrity, "complete %s: server checksum %s, want %s", rc.Key, info.ChecksumSHA256, want)
	}
	rc.VersionID, rc.Checksum = info.VersionID, want
	return rc, nil
}

// resumeStream continues the recorded upload when the server still holds
// every recorded part, in order from part 1, with the recorded size and
// checksum (or ETag); otherwise it starts a new upload. The hash state
// covers exactly the recorded parts, so it is restored with them.
func (t *Target) resumeStream(ctx context.Context, obj target.Object, key string, cps target.Checkpoints) (target.Checkpoint, hash.Hash, error) {
	h := sha256.New()
	if cps == nil {
		cp, err := t.newUpload(ctx, obj, key, cps)
		return cp, h, err
	}
	cp, ok, err := cps.LoadCheckpoint(ctx, obj.Digest)
	if err != nil {
		return cp, nil, fmt.Errorf("load multipart checkpoint of %s: %w", obj.Digest.Short(), err)
	}
	if ok && cp.Key == key && cp.UploadID != "" && cp.PartSize >= minPartSize {
		why, err := t.partsMissing(ctx, cp)
		if err != nil {
			return cp, nil, err
		}
		// An upload recorded before its first part was stored has no hash
		// state yet: the fresh hash is the right one for it.
		if why == "" && len(cp.Parts) > 0 {
			if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(cp.HashState); err != nil {
				why = "recorded hash state unreadable: " + err.Error()
			}
		}
		if why == "" {
			t.log.Info("resuming streamed multipart upload", "key", key, "upload", cp.UploadID, "parts_stored", len(cp.Parts))
			return cp, h, nil
		}
		t.log.Warn("recorded multipart upload cannot be resumed; starting again", "key", key, "upload", cp.UploadID, "why", why)
		_ = t.core.AbortMultipartUpload(ctx, t.cfg.Bucket, key, cp.UploadID)
	}
	cp, err = t.newUpload(ctx, obj, key, cps)
	return cp, h, err
}

// partsMissing says why the server does not hold every part cp records, or
// "" when it holds them all.
func (t *Target) partsMissing(ctx context.Context, cp target.Checkpoint) (string, error) {
	if len(cp.Parts) > 0 && cp.HashState == nil {
		return "no hash state recorded", nil
	}
	stored, err := t.listParts(ctx, cp.Key, cp.UploadID)
	if err != nil {
		if errorResponse(err).Code == "NoSuchUpload" {
			return "the server no longer has the upload", nil
		}
		return "", t.wrap(err, "list parts of %s", cp.Key)
	}
	for i, p := range cp.Parts {
		if p.Number != i+1 {
			return fmt.Sprintf("recorded part %d is numbered %d", i+1, p.Number), nil
		}
		sp, ok := stored[p.Number]
		if !ok {
			return fmt.Sprintf("part %d not on the server (it lists %d parts)", p.Number, len(stored)), nil
		}
		if !finished(sp, cp, p.Size, p.SHA256) {
			return fmt.Sprintf("part %d on the server is %d bytes, etag %s, sha256 %q; recorded %d bytes, etag %s, sha256 %q",
				p.Number, sp.Size, sp.ETag, sp.ChecksumSHA256, p.Size, p.ETag, p.SHA256), nil
		}
	}
	return "", nil
}
