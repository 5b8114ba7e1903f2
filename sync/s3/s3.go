// Package s3 copies evidence to an S3-compatible bucket with Object Lock
// (AWS S3, Ceph RGW, SeaweedFS, MinIO) using plain S3 calls through
// minio-go.
//
// Every object is stored under its digest (target.Key, or the configured
// Layout) with COMPLIANCE
// retention, so nobody, administrators included, can delete or overwrite it
// before the retention date. The SHA-256 computed at ingest travels as the
// signed payload hash and as x-amz-checksum-sha256, so the server refuses
// bytes that do not match it. Files at or above the multipart threshold go in
// parts, each with its own SHA-256; progress is checkpointed after every part
// so an upload interrupted by a crash resumes without resending finished
// parts. Because S3's checksum of a multipart object is a checksum of part
// checksums, the full digest is also checked on the appliance while the parts
// are read, and stored in the object's metadata for later audits.
package s3

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/time/rate"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/target"
)

// MetaSHA256 is the user-metadata key holding the item's full SHA-256 in
// hex (sent as x-amz-meta-edgetriage-sha256).
const MetaSHA256 = "edgetriage-sha256"

// Sizes S3 imposes on multipart uploads.
const (
	minPartSize  = 5 << 20
	maxParts     = 10000
	maxSinglePut = 5 << 30
)

// Config says where and how to store evidence.
type Config struct {
	Endpoint  string // host:port
	Secure    bool   // https
	Region    string // default us-east-1
	AccessKey string
	SecretKey string
	Bucket    string
	// Layout places items in the bucket (nil: target.Key, the station's
	// evidence/xx/<digest>).
	Layout target.Layout
	// Retention is how long each object stays under COMPLIANCE retention,
	// counted from its upload.
	Retention time.Duration
	// PartSize is the multipart part size (default 16 MiB, minimum 5 MiB).
	PartSize int64
	// MultipartThreshold is the size from which files go in parts
	// (default 64 MiB).
	MultipartThreshold int64
	// Limiter caps upload bandwidth in bytes per second; nil: no cap.
	Limiter *rate.Limiter
	// Transport replaces the HTTP transport (nil: minio-go's default).
	Transport http.RoundTripper
	// Now is the clock for retention dates (nil: time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Target stores evidence in one bucket.
type Target struct {
	cfg    Config
	client *minio.Client
	core   minio.Core
	log    *slog.Logger

	mu        sync.Mutex
	checkedAt time.Time // last successful CheckBucket
}

// recheckAfter is how long a successful bucket check is trusted. Object
// Lock cannot be turned off once on, and a deleted bucket or revoked key
// makes the next request fail with the same classified error anyway.
const recheckAfter = time.Minute

var _ target.Target = (*Target)(nil)

// New checks cfg and makes the client; it does not contact the server.
func New(cfg Config) (*Target, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.Secure,
		Region:    cfg.Region,
		Transport: cfg.Transport,
		// The outbox retries with its own backoff and shows every failure in
		// the status API; minio-go's ten silent retries would hide an outage.
		MaxRetries:      1,
		TrailingHeaders: true,
		BucketLookup:    minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", cfg.Endpoint, err)
	}
	return &Target{cfg: cfg, client: client, core: minio.Core{Client: client}, log: cfg.Logger}, nil
}

func (c *Config) fill() error {
	switch {
	case c.Endpoint == "":
		return fmt.Errorf("s3 target: 'endpoint' is empty")
	case c.Bucket == "":
		return fmt.Errorf("s3 target: 'bucket' is empty")
	case c.AccessKey == "" || c.SecretKey == "":
		return fmt.Errorf("s3 target: 'accessKey' and 'secretKey' must be set")
	case c.Retention <= 0:
		return fmt.Errorf("s3 target: 'retention' must be greater than zero")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.PartSize == 0 {
		c.PartSize = 16 << 20
	}
	if c.PartSize < minPartSize {
		return fmt.Errorf("s3 target: 'partSize' must be at least %d bytes", minPartSize)
	}
	if c.MultipartThreshold == 0 {
		c.MultipartThreshold = 64 << 20
	}
	if c.MultipartThreshold < c.PartSize {
		c.MultipartThreshold = c.PartSize
	}
	c.MultipartThreshold = min(c.MultipartThreshold, maxSinglePut)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Layout == nil {
		c.Layout = target.Key
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Name identifies the target in receipts and logs.
func (t *Target) Name() string { return "s3://" + t.cfg.Endpoint + "/" + t.cfg.Bucket }

// Bucket is the configured bucket.
func (t *Target) Bucket() string { return t.cfg.Bucket }

// Key is where the item's bytes are stored in the bucket.
func (t *Target) Key(d evidence.Digest) string { return t.cfg.Layout(d) }

// PartSize is the size of every part but the last when an item of size
// goes in parts; 0 when it goes in one PUT. A source that reads part by
// part can line its reads up with the parts a resumed upload keeps.
func (t *Target) PartSize(size int64) int64 {
	if size < t.cfg.MultipartThreshold {
		return 0
	}
	return t.cfg.PartSize
}

// ManifestKey is where the item's manifest is stored, beside its bytes.
func (t *Target) ManifestKey(d evidence.Digest) string { return t.cfg.Layout(d) + ".manifest.json" }

// CheckBucket fails with a classified error unless the bucket exists, the
// credentials work and Object Lock is enabled on it. Put calls it first, so
// nothing is uploaded where it could later be deleted.
func (t *Target) CheckBucket(ctx context.Context) error {
	t.mu.Lock()
	fresh := !t.checkedAt.IsZero() && time.Since(t.checkedAt) < recheckAfter
	t.mu.Unlock()
	if fresh {
		return nil
	}
	status, _, _, _, err := t.client.GetObjectLockConfig(ctx, t.cfg.Bucket)
	if err != nil {
		return t.wrap(err, "object lock configuration of bucket %s", t.cfg.Bucket)
	}
	if status != "Enabled" {
		return target.Errorf(target.ClassLockDisabled, "bucket %s: object lock is %q, not enabled", t.cfg.Bucket, status)
	}
	t.mu.Lock()
	t.checkedAt = time.Now()
	t.mu.Unlock()
	return nil
}

// wrap classifies err and adds what was being done.
func (t *Target) wrap(err error, format string, args ...any) error {
	return &target.Error{Class: Classify(err), Err: fmt.Errorf(format+": %w", append(args, err)...)}
}

func b64(sum []byte) string { return base64.StdEncoding.EncodeToString(sum) }

func digestB64(d evidence.Digest) string { return b64(d[:]) }

// ChecksumOf is the x-amz-checksum-sha256 value of an item stored in one
// PUT: its digest in base64.
func ChecksumOf(d evidence.Digest) string { return digestB64(d) }
