package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/target"
)

// putMultipart sends obj in parts, resuming the upload recorded in cps if
// the server still has it. A part counts as finished when the server lists
// it with the size and SHA-256 it must have; it is then not sent again.
// Every part is read from the vault file on the way, finished or not, so
// the full digest of what the object will contain is checked before the
// upload is completed: S3 itself only checks each part.
func (t *Target) putMultipart(ctx context.Context, obj target.Object, rc target.Receipt, cps target.Checkpoints) (target.Receipt, error) {
	f, err := os.Open(obj.Path)
	if err != nil {
		return rc, fmt.Errorf("open %s: %w", obj.Path, err)
	}
	defer f.Close()

	cp, stored, err := t.resume(ctx, obj, rc.Key, cps)
	if err != nil {
		return rc, err
	}
	if cp.PartSize*maxParts < obj.Size {
		return rc, fmt.Errorf("put %s: %d bytes need more than %d parts of %d bytes", rc.Key, obj.Size, maxParts, cp.PartSize)
	}

	full := sha256.New()
	composite := sha256.New()
	buf := make([]byte, cp.PartSize)
	var done []minio.CompletePart
	for n, off := 1, int64(0); off < obj.Size; n, off = n+1, off+cp.PartSize {
		b := buf[:min(cp.PartSize, obj.Size-off)]
		if _, err := io.ReadFull(io.NewSectionReader(f, off, int64(len(b))), b); err != nil {
			return rc, fmt.Errorf("read part %d of %s: %w", n, obj.Path, err)
		}
		full.Write(b)
		sum := sha256.Sum256(b)
		composite.Write(sum[:])
		part, have := stored[n]
		if !have || !finished(part, cp, int64(len(b)), b64(sum[:])) {
			if part, err = t.sendPart(ctx, obj, rc.Key, cp.UploadID, n, b, sum); err != nil {
				return rc, err
			}
			rc.PartsSent++
			rc.BytesSent += int64(len(b))
			cp.Parts = setPart(cp.Parts, target.Part{Number: n, Size: int64(len(b)), ETag: part.ETag, SHA256: b64(sum[:])})
			if cps != nil {
				if err := cps.SaveCheckpoint(ctx, obj.Digest, cp); err != nil {
					return rc, fmt.Errorf("save multipart checkpoint of %s: %w", obj.Digest.Short(), err)
				}
			}
		}
		done = append(done, minio.CompletePart{PartNumber: n, ETag: part.ETag, ChecksumSHA256: b64(sum[:])})
	}

	var got evidence.Digest
	copy(got[:], full.Sum(nil))
	if got != obj.Digest {
		// The vault file no longer has the bytes it was ingested with. Never
		// complete such an upload; drop it so a retry cannot either.
		_ = t.core.AbortMultipartUpload(ctx, t.cfg.Bucket, rc.Key, cp.UploadID)
		if cps != nil {
			_ = cps.DeleteCheckpoint(ctx, obj.Digest)
		}
		return rc, target.Errorf(target.ClassIntegrity, "put %s: vault file %s hashes to %s, not its digest", rc.Key, obj.Path, got)
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

// resume returns the checkpoint to continue with and the parts the server
// already holds for it, starting a new upload when there is none or the
// server no longer knows the recorded one.
func (t *Target) resume(ctx context.Context, obj target.Object, key string, cps target.Checkpoints) (target.Checkpoint, map[int]minio.ObjectPart, error) {
	if cps != nil {
		cp, ok, err := cps.LoadCheckpoint(ctx, obj.Digest)
		if err != nil {
			return cp, nil, fmt.Errorf("load multipart checkpoint of %s: %w", obj.Digest.Short(), err)
		}
		if ok && cp.Key == key && cp.UploadID != "" && cp.PartSize >= minPartSize {
			stored, err := t.listParts(ctx, key, cp.UploadID)
			if err == nil {
				t.log.Info("resuming multipart upload", "key", key, "upload", cp.UploadID, "parts_stored", len(stored))
				return cp, stored, nil
			}
			if errorResponse(err).Code != "NoSuchUpload" {
				return cp, nil, t.wrap(err, "list parts of %s", key)
			}
			t.log.Warn("recorded multipart upload is gone; starting again", "key", key, "upload", cp.UploadID)
		}
	}
	cp, err := t.newUpload(ctx, obj, key, cps)
	return cp, map[int]minio.ObjectPart{}, err
}

// newUpload starts a multipart upload of obj under key and records it.
func (t *Target) newUpload(ctx context.Context, obj target.Object, key string, cps target.Checkpoints) (target.Checkpoint, error) {
	opts := t.putOptions(obj, "application/octet-stream")
	opts.UserMetadata["x-amz-checksum-algorithm"] = "SHA256"
	opts.UserMetadata["x-amz-checksum-type"] = "COMPOSITE"
	id, err := t.core.NewMultipartUpload(ctx, t.cfg.Bucket, key, opts)
	if err != nil {
		return target.Checkpoint{}, t.wrap(err, "start multipart upload of %s", key)
	}
	cp := target.Checkpoint{Key: key, UploadID: id, PartSize: partSizeFor(obj.Size, t.cfg.PartSize)}
	if cps != nil {
		if err := cps.SaveCheckpoint(ctx, obj.Digest, cp); err != nil {
			return cp, fmt.Errorf("save multipart checkpoint of %s: %w", obj.Digest.Short(), err)
		}
	}
	return cp, nil
}

func (t *Target) listParts(ctx context.Context, key, uploadID string) (map[int]minio.ObjectPart, error) {
	parts := map[int]minio.ObjectPart{}
	marker := 0
	for {
		res, err := t.core.ListObjectParts(ctx, t.cfg.Bucket, key, uploadID, marker, 1000)
		if err != nil {
			return nil, err
		}
		for _, p := range res.ObjectParts {
			parts[p.PartNumber] = p
		}
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			return parts, nil
		}
		marker = res.NextPartNumberMarker
	}
}

func (t *Target) sendPart(ctx context.Context, obj target.Object, key, uploadID string, n int, b []byte, sum [sha256.Size]byte) (minio.ObjectPart, error) {
	h := http.Header{}
	h.Set("x-amz-checksum-sha256", b64(sum[:]))
	opts := minio.PutObjectPartOptions{Sha256Hex: hex.EncodeToString(sum[:]), CustomHeader: h, DisableContentSha256: true}
	part, err := t.core.PutObjectPart(ctx, t.cfg.Bucket, key, uploadID, n, t.body(ctx, bytes.NewReader(b), obj.Progress), int64(len(b)), opts)
	if err != nil {
		return part, t.wrap(err, "put part %d of %s", n, key)
	}
	if part.ChecksumSHA256 != "" && part.ChecksumSHA256 != b64(sum[:]) {
		return part, target.Errorf(target.ClassIntegrity, "part %d of %s: server checksum %s, want %s", n, key, part.ChecksumSHA256, b64(sum[:]))
	}
	part.PartNumber, part.Size, part.ChecksumSHA256 = n, int64(len(b)), b64(sum[:])
	return part, nil
}

// finished reports whether a part the server lists is the part we would
// send. Servers that list no part checksums are trusted through the
// checkpoint: same ETag as the part recorded with this SHA-256.
func finished(p minio.ObjectPart, cp target.Checkpoint, size int64, sum string) bool {
	if p.Size != size {
		return false
	}
	if p.ChecksumSHA256 != "" {
		return p.ChecksumSHA256 == sum
	}
	for _, r := range cp.Parts {
		if r.Number == p.PartNumber {
			return r.Size == size && r.SHA256 == sum && r.ETag == strings.Trim(p.ETag, `"`)
		}
	}
	return false
}

func setPart(parts []target.Part, p target.Part) []target.Part {
	for i := range parts {
		if parts[i].Number == p.Number {
			parts[i] = p
			return parts
		}
	}
	return append(parts, p)
}

// partSizeFor grows the configured part size, in whole MiB, until the file
// fits in S3's 10000 parts.
func partSizeFor(size, configured int64) int64 {
	need := (size + maxParts - 1) / maxParts
	if need <= configured {
		return configured
	}
	return (need + 1<<20 - 1) &^ (1<<20 - 1)
}
