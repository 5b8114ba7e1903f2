package s3_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
	"github.com/edgetriage/edgetriage/testkit"
)

// randomFile writes size random bytes and returns the item for them.
func randomFile(t testing.TB, dir string, size int64) target.Object {
	t.Helper()
	p := filepath.Join(dir, "clip-"+time.Now().Format("150405.000000000")+".mp4")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := evidence.NewHasher()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return target.Object{Digest: h.Sum(), Size: size, Path: p, Manifest: []byte(`{"digest":"` + h.Sum().String() + `"}`)}
}

func newTarget(t testing.TB, conn testkit.S3Conn, bucket string, mod func(*s3.Config)) *s3.Target {
	t.Helper()
	cfg := s3.Config{
		Endpoint: conn.Endpoint, AccessKey: conn.AccessKey, SecretKey: conn.SecretKey, Region: conn.Region,
		Bucket: bucket, Retention: 24 * time.Hour, PartSize: 5 << 20, MultipartThreshold: 8 << 20,
	}
	if mod != nil {
		mod(&cfg)
	}
	tg, err := s3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// memCheckpoints keeps multipart checkpoints in memory, as a restarted
// daemon would find them in its database.
type memCheckpoints struct {
	mu sync.Mutex
	m  map[evidence.Digest]target.Checkpoint
}

func (m *memCheckpoints) LoadCheckpoint(_ context.Context, d evidence.Digest) (target.Checkpoint, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp, ok := m.m[d]
	return cp, ok, nil
}

func (m *memCheckpoints) SaveCheckpoint(_ context.Context, d evidence.Digest, cp target.Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[evidence.Digest]target.Checkpoint{}
	}
	cp.Parts = append([]target.Part(nil), cp.Parts...)
	m.m[d] = cp
	return nil
}

func (m *memCheckpoints) DeleteCheckpoint(_ context.Context, d evidence.Digest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, d)
	return nil
}

// versions counts every stored version under prefix.
func versions(t testing.TB, c *minio.Client, bucket, prefix string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for o := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatalf("list versions: %v", o.Err)
		}
		n[o.Key]++
	}
	return n
}

func TestPutVerifyRetentionHold(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			conn := srv.Conn
			bucket := testkit.NewBucket(t, conn, true)
			tg := newTarget(t, conn, bucket, nil)
			ctx := context.Background()
			obj := randomFile(t, t.TempDir(), 3<<20+17)
			obj.Hold = true

			rc, err := tg.Put(ctx, obj, &memCheckpoints{})
			if err != nil {
				t.Fatalf("put: %v", err)
			}
			if rc.Existing || rc.BytesSent != obj.Size || !rc.Hold {
				t.Errorf("receipt %+v: want a fresh upload of %d bytes under hold", rc, obj.Size)
			}
			if until := time.Until(rc.RetainUntil); until < 23*time.Hour || until > 25*time.Hour {
				t.Errorf("retain until %v: want about 24h from now", rc.RetainUntil)
			}

			if _, err := tg.Verify(ctx, obj, rc); err != nil {
				t.Fatalf("verify: %v", err)
			}
			client := testkit.S3Client(t, conn)
			info, err := client.StatObject(ctx, bucket, target.Key(obj.Digest), minio.StatObjectOptions{Checksum: true})
			if err != nil {
				t.Fatal(err)
			}
			if want := s3.ChecksumOf(obj.Digest); info.ChecksumSHA256 != want {
				t.Errorf("server checksum %q, want the ingest digest %q", info.ChecksumSHA256, want)
			}

			mode, until, err := tg.Retention(ctx, obj.Digest)
			if err != nil || mode != "COMPLIANCE" || until.Before(time.Now().Add(23*time.Hour)) {
				t.Errorf("retention read back: %q until %v, err %v; want COMPLIANCE for 24h", mode, until, err)
			}
			if on, err := tg.LegalHold(ctx, obj.Digest); err != nil || !on {
				t.Errorf("legal hold read back: %v, %v; want ON", on, err)
			}

			// Deleting the version itself, even by the bucket owner, must be refused.
			err = client.RemoveObject(ctx, bucket, target.Key(obj.Digest), minio.RemoveObjectOptions{VersionID: info.VersionID})
			if err == nil {
				t.Fatalf("deleting a COMPLIANCE-retained version succeeded")
			}
			// Lifting the legal hold leaves the retention: still refused.
			if err := tg.SetLegalHold(ctx, obj.Digest, false); err != nil {
				t.Fatal(err)
			}
			if on, err := tg.LegalHold(ctx, obj.Digest); err != nil || on {
				t.Errorf("legal hold after release: %v, %v; want OFF", on, err)
			}
			err = client.RemoveObject(ctx, bucket, target.Key(obj.Digest), minio.RemoveObjectOptions{VersionID: info.VersionID})
			if err == nil {
				t.Fatalf("deleting a COMPLIANCE-retained version without hold succeeded")
			}
			t.Logf("delete refused: %v", err)
			if _, err := tg.Verify(ctx, obj, rc); err != nil {
				t.Fatalf("verify after delete attempts: %v", err)
			}

			// The manifest is beside the object, byte for byte.
			mr, err := client.GetObject(ctx, bucket, target.ManifestKey(obj.Digest), minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(mr)
			if err != nil || string(got) != string(obj.Manifest) {
				t.Errorf("manifest %q, %v; want %q", got, err, obj.Manifest)
			}

			// A second Put sends nothing and makes no second version.
			rc2, err := tg.Put(ctx, obj, &memCheckpoints{})
			if err != nil || !rc2.Existing || rc2.BytesSent != 0 {
				t.Errorf("second put: %+v, %v; want existing, nothing sent", rc2, err)
			}
			for k, n := range versions(t, client, bucket, "evidence/") {
				if n != 1 {
					t.Errorf("%s has %d versions, want 1", k, n)
				}
			}
		})
	}
}

func TestVerifyDetectsWrongItem(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			conn := srv.Conn
			bucket := testkit.NewBucket(t, conn, true)
			tg := newTarget(t, conn, bucket, nil)
			ctx := context.Background()
			obj := randomFile(t, t.TempDir(), 1000)
			rc, err := tg.Put(ctx, obj, nil)
			if err != nil {
				t.Fatal(err)
			}
			bad := obj
			bad.Size++
			if _, err := tg.Verify(ctx, bad, rc); s3.Classify(err) != target.ClassIntegrity {
				t.Errorf("verify with wrong size: %v; want an integrity error", err)
			}
			missing := randomFile(t, t.TempDir(), 10)
			if _, err := tg.Verify(ctx, missing, target.Receipt{}); s3.Classify(err) != target.ClassIntegrity {
				t.Errorf("verify of a missing object: %v; want an integrity error", err)
			}
		})
	}
}

func TestPutRefusesCorruptVaultFile(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			conn := srv.Conn
			bucket := testkit.NewBucket(t, conn, true)
			tg := newTarget(t, conn, bucket, nil)
			ctx := context.Background()
			for _, size := range []int64{4 << 10, 11 << 20} { // single PUT, multipart
				obj := randomFile(t, t.TempDir(), size)
				f, err := os.OpenFile(obj.Path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteAt([]byte("tampered"), size/2)
				f.Close()
				_, err = tg.Put(ctx, obj, &memCheckpoints{})
				t.Logf("size %d: %v", size, err)
				if s3.Classify(err) != target.ClassIntegrity {
					t.Errorf("size %d: put of a file that does not match its digest: %v; want an integrity error", size, err)
				}
				if n := versions(t, testkit.S3Client(t, conn), bucket, target.Key(obj.Digest)); n[target.Key(obj.Digest)] != 0 {
					t.Errorf("size %d: a corrupt file was stored", size)
				}
			}
		})
	}
}

func TestClassifiedErrors(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			conn := srv.Conn
			ctx := context.Background()
			obj := randomFile(t, t.TempDir(), 1000)
			locked := testkit.NewBucket(t, conn, true)
			cases := []struct {
				name string
				cfg  func(*s3.Config)
				want target.Class
			}{
				{"wrong secret", func(c *s3.Config) { c.Bucket = locked; c.SecretKey = "wrong" }, target.ClassAuth},
				{"unknown key", func(c *s3.Config) { c.Bucket = locked; c.AccessKey = "nobody" }, target.ClassAuth},
				{"no such bucket", func(c *s3.Config) { c.Bucket = "et-missing-bucket-x" }, target.ClassBucketMissing},
				{"bucket without object lock", func(c *s3.Config) { c.Bucket = testkit.NewBucket(t, conn, false) }, target.ClassLockDisabled},
				{"nothing listening", func(c *s3.Config) { c.Bucket = locked; c.Endpoint = "127.0.0.1:1" }, target.ClassNetwork},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					tg := newTarget(t, conn, "placeholder", tc.cfg)
					_, err := tg.Put(ctx, obj, nil)
					if err == nil {
						t.Fatal("put succeeded")
					}
					if got := s3.Classify(err); got != tc.want {
						t.Errorf("class %q (%v), want %q", got, err, tc.want)
					}
					var te *target.Error
					if !errors.As(err, &te) {
						t.Errorf("error %v is not a *target.Error", err)
					}
				})
			}
			// Nothing reached the locked bucket through the failing configurations.
			if n := versions(t, testkit.S3Client(t, conn), locked, ""); len(n) != 0 {
				t.Errorf("objects stored despite errors: %v", n)
			}
		})
	}
}
