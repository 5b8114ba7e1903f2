package outbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/time/rate"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/outbox"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
	"github.com/edgetriage/edgetriage/testkit"
)

func s3Target(t *testing.T, conn testkit.S3Conn, bucket string, mod func(*s3.Config)) *s3.Target {
	t.Helper()
	cfg := s3.Config{
		Endpoint: conn.Endpoint, AccessKey: conn.AccessKey, SecretKey: conn.SecretKey, Region: conn.Region,
		Bucket: bucket, Retention: time.Hour, PartSize: 5 << 20, MultipartThreshold: 8 << 20,
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

func objectVersions(t *testing.T, conn testkit.S3Conn, bucket string) map[string]int {
	t.Helper()
	n := map[string]int{}
	c := testkit.S3Client(t, conn)
	for o := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatalf("list versions: %v", o.Err)
		}
		n[o.Key]++
	}
	return n
}

func TestServerOutageMidQueue(t *testing.T) {
	srv := testkit.StartPrivateS3(t)
	bucket := testkit.NewBucket(t, srv.Conn, true)
	// 4 MB/s makes the queue take several seconds, so the outage lands in it.
	tg := s3Target(t, srv.Conn, bucket, func(c *s3.Config) { c.Limiter = rate.NewLimiter(4<<20, 128<<10) })
	var ds []evidence.Digest
	r := startWorker(t, tg, func(c *outbox.Config) {
		c.Backoff = outbox.Backoff{Base: 500 * time.Millisecond, Max: 4 * time.Second}
	}, func(r *rig) {
		ds = addItems(t, r.src, r.store, 1, 16<<20) // 4 parts, queued first
		ds = append(ds, addItems(t, r.src, r.store, 8, 1<<20)...)
	})
	verified := func() int {
		n := 0
		for _, d := range ds {
			if r.store.entry(d).State == outbox.StateVerified {
				n++
			}
		}
		return n
	}
	// Stop the server in the middle of the multipart upload.
	testkit.WaitFor(t, "2 parts checkpointed", 60*time.Second, func() bool {
		cp, ok, _ := r.store.LoadCheckpoint(context.Background(), ds[0])
		return ok && len(cp.Parts) >= 2
	})
	srv.Stop(t)
	down := time.Now()
	before := verified()
	t.Logf("server stopped with %d of %d items verified", before, len(ds))

	time.Sleep(30 * time.Second)
	st, err := r.w.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.LastErrorClass != target.ClassNetwork {
		t.Errorf("during the outage: last error class %q (%s), want network", st.LastErrorClass, st.LastError)
	}
	if after := verified(); after > before+1 { // one upload may have finished as the server stopped
		t.Errorf("%d items verified while the server was down (was %d)", after, before)
	}
	retried := 0
	for _, e := range st.Items {
		if e.Attempts > 0 {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("no item recorded a failed attempt during the outage")
	}

	srv.Start(t)
	t.Logf("server back after %v", time.Since(down).Round(time.Second))
	testkit.WaitFor(t, "all items verified after the outage", 120*time.Second, func() bool { return verified() == len(ds) })

	if rc := r.store.entry(ds[0]).Receipt; rc.PartsSent >= 4 {
		t.Errorf("the multipart upload sent %d of 4 parts after the outage; finished parts were resent", rc.PartsSent)
	}
	vers := objectVersions(t, srv.Conn, bucket)
	if len(vers) != 2*len(ds) {
		t.Errorf("%d keys stored, want %d (each item and its manifest)", len(vers), 2*len(ds))
	}
	for k, n := range vers {
		if n != 1 {
			t.Errorf("%s: %d versions, want 1 (a retry made a duplicate)", k, n)
		}
	}
	for _, d := range ds {
		e := r.store.entry(d)
		if _, err := tg.Verify(context.Background(), target.Object{Digest: d, Size: e.Size}, e.Receipt); err != nil {
			t.Errorf("%s: %v", d.Short(), err)
		}
		if r.custody.count(d, evidence.ActionUploadVerified) != 1 {
			t.Errorf("%s: %d upload-verified events, want 1", d.Short(), r.custody.count(d, evidence.ActionUploadVerified))
		}
	}
}

func TestBadConfigurationShowsClassAndSyncsNothing(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			conn := srv.Conn
			cases := []struct {
				name   string
				bucket string
				cfg    func(*s3.Config)
				want   target.Class
				text   string
			}{
				{"wrong credentials", testkit.NewBucket(t, conn, true), func(c *s3.Config) { c.SecretKey = "not-the-secret" }, target.ClassAuth, "auth"},
				{"bucket without object lock", testkit.NewBucket(t, conn, false), nil, target.ClassLockDisabled, "object lock"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					tg := s3Target(t, conn, tc.bucket, tc.cfg)
					var ds []evidence.Digest
					r := startWorker(t, tg, nil, func(r *rig) { ds = addItems(t, r.src, r.store, 3, 64<<10) })
					testkit.WaitFor(t, "every item failed twice", 30*time.Second, func() bool {
						for _, d := range ds {
							if r.store.entry(d).Attempts < 2 {
								return false
							}
						}
						return true
					})
					st, err := r.w.Status(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					if st.LastErrorClass != tc.want || !strings.Contains(strings.ToLower(st.LastError), tc.text) {
						t.Errorf("status error %q (%s), want class %q mentioning %q", st.LastErrorClass, st.LastError, tc.want, tc.text)
					}
					for _, e := range st.Items {
						if e.State != outbox.StateUploading || e.ErrorClass != tc.want {
							t.Errorf("%s: state %s, class %q; want uploading, %q", e.Digest.Short(), e.State, e.ErrorClass, tc.want)
						}
					}
					if st.Counts[outbox.StateUploaded]+st.Counts[outbox.StateVerified] != 0 || r.custody.total() != 0 {
						t.Errorf("items marked synced: counts %v, %d custody events", st.Counts, r.custody.total())
					}
					if n := objectVersions(t, conn, tc.bucket); len(n) != 0 {
						t.Errorf("objects stored: %v", n)
					}
				})
			}
		})
	}
}

// TestRestartResumesMultipart stops the worker mid-upload, as a daemon
// shutdown would, and starts a new one over the same store: the upload
// resumes from the stored checkpoint.
func TestRestartResumesMultipart(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			conn := srv.Conn
			bucket := testkit.NewBucket(t, conn, true)
			slow := s3Target(t, conn, bucket, func(c *s3.Config) { c.Limiter = rate.NewLimiter(8<<20, 128<<10) })
			var ds []evidence.Digest
			r := startWorker(t, slow, nil, func(r *rig) { ds = addItems(t, r.src, r.store, 1, 30<<20) }) // 6 parts
			testkit.WaitFor(t, "2 parts checkpointed", 60*time.Second, func() bool {
				cp, ok, _ := r.store.LoadCheckpoint(context.Background(), ds[0])
				return ok && len(cp.Parts) >= 2
			})
			r.stop(t)
			e := r.store.entry(ds[0])
			cp, ok, _ := r.store.LoadCheckpoint(context.Background(), ds[0])
			if e.State != outbox.StateUploading || e.Attempts != 0 || !ok {
				t.Fatalf("after shutdown: entry %+v, checkpoint %v; want uploading, no failure recorded, checkpoint kept", e, ok)
			}
			done := len(cp.Parts)

			fast := s3Target(t, conn, bucket, nil)
			w, err := outbox.New(outbox.Config{Store: r.store, Source: r.src, Custody: r.custody, Target: fast, Poll: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan error, 1)
			go func() { ran <- w.Run(ctx) }()
			testkit.WaitFor(t, "verified after restart", 60*time.Second, func() bool { return r.store.entry(ds[0]).State == outbox.StateVerified })
			cancel()
			if err := <-ran; err != nil {
				t.Fatal(err)
			}
			rc := r.store.entry(ds[0]).Receipt
			if rc.PartsSent > 6-done || rc.PartsSent == 0 {
				t.Errorf("the new worker sent %d parts; %d of 6 were already stored", rc.PartsSent, done)
			}
			if n := objectVersions(t, conn, bucket)[target.Key(ds[0])]; n != 1 {
				t.Errorf("%d versions of the object, want 1", n)
			}
		})
	}
}
