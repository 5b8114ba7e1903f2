package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
	"github.com/edgetriage/edgetriage/testkit"
)

// station serves an item's bytes from an offset, as a station's content
// route with a Range header does, and counts what it sent. failAt, when
// positive, cuts every stream after that many bytes from its start, as a
// dropped connection does.
type station struct {
	body   []byte
	failAt int64

	mu      sync.Mutex
	sent    int64
	offsets []int64
}

func (s *station) open(_ context.Context, off int64) (io.ReadCloser, error) {
	s.mu.Lock()
	s.offsets = append(s.offsets, off)
	s.mu.Unlock()
	var r io.Reader = bytes.NewReader(s.body[off:])
	if s.failAt > 0 {
		r = io.MultiReader(io.LimitReader(r, s.failAt-off), errReader{})
	}
	return io.NopCloser(&counted{r: r, s: s}), nil
}

type counted struct {
	r io.Reader
	s *station
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.s.mu.Lock()
	c.s.sent += int64(n)
	c.s.mu.Unlock()
	return n, err
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by station") }

func newStation(t *testing.T, size int) (*station, evidence.Digest) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	return &station{body: b}, evidence.Digest(sha256.Sum256(b))
}

// TestPutStreamStoresUnderStationLayout: central streams an item from its
// station into its own layout, <station>/<digest>, under COMPLIANCE
// retention (read back from each server: versitygw's retention answer is
// the one that needs HEAD's headers), and sees every byte on the way.
func TestPutStreamStoresUnderStationLayout(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			bucket := testkit.NewBucket(t, srv.Conn, true)
			tg := newTarget(t, srv.Conn, bucket, func(c *s3.Config) { c.Layout = target.Prefixed("station-7") })
			st, d := newStation(t, 3<<20)
			seen := sha256.New()
			ctx := context.Background()
			rc, err := tg.PutStream(ctx, s3.Stream{Digest: d, Size: int64(len(st.body)), Open: st.open, Manifest: []byte(`{"m":1}`), Observe: seen}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rc.Key != "station-7/"+d.String() || rc.ManifestKey != "station-7/"+d.String()+".manifest.json" {
				t.Fatalf("keys %q and %q, want the station layout", rc.Key, rc.ManifestKey)
			}
			if rc.BytesSent != int64(len(st.body)) || !bytes.Equal(seen.Sum(nil), d[:]) {
				t.Fatalf("sent %d bytes; the observer saw other bytes than the item's", rc.BytesSent)
			}
			mode, until, err := tg.Retention(ctx, d)
			if err != nil || mode != "COMPLIANCE" || until.Before(time.Now().Add(23*time.Hour)) {
				t.Fatalf("retention %q until %v (%v), want COMPLIANCE for a day", mode, until, err)
			}
			got := readAll(t, tg, d)
			if !bytes.Equal(got, st.body) {
				t.Fatal("stored bytes differ from the station's")
			}
			// Storing again sends nothing: the object is there and intact.
			again, err := tg.PutStream(ctx, s3.Stream{Digest: d, Size: int64(len(st.body)), Open: st.open, Manifest: []byte(`{"m":1}`)}, nil)
			if err != nil || !again.Existing || len(st.offsets) != 1 {
				t.Fatalf("second put: existing %v, source opened %d times (%v)", again.Existing, len(st.offsets), err)
			}
		})
	}
}

func readAll(t *testing.T, tg *s3.Target, d evidence.Digest) []byte {
	t.Helper()
	r, _, err := tg.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPutStreamRefusesOtherBytes: a station that sends bytes other than
// the digest it announced gets nothing stored, neither in one PUT nor in
// parts, so no wrong bytes ever sit under retention.
func TestPutStreamRefusesOtherBytes(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			bucket := testkit.NewBucket(t, srv.Conn, true)
			tg := newTarget(t, srv.Conn, bucket, func(c *s3.Config) { c.Layout = target.Prefixed("st") })
			for _, size := range []int{1 << 20, 11 << 20} {
				st, d := newStation(t, size)
				st.body[size/2] ^= 1
				_, err := tg.PutStream(context.Background(), s3.Stream{Digest: d, Size: int64(size), Open: st.open, Manifest: []byte("{}")}, &memCheckpoints{})
				if err == nil {
					t.Fatalf("%d bytes: a changed byte was stored", size)
				}
				if _, _, err := tg.Open(context.Background(), d); !errors.Is(err, s3.ErrNotFound) {
					t.Fatalf("%d bytes: after the refusal the key holds something: %v", size, err)
				}
			}
		})
	}
}

// TestPutStreamResumesFromStoredParts: a stream cut after two parts is
// resumed from the checkpoint: the source is opened again at the first
// missing part, so no byte of a stored part crosses the uplink twice, and
// the completed object is the item.
func TestPutStreamResumesFromStoredParts(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			bucket := testkit.NewBucket(t, srv.Conn, true)
			tg := newTarget(t, srv.Conn, bucket, func(c *s3.Config) { c.Layout = target.Prefixed("st") })
			const part = 5 << 20
			st, d := newStation(t, 3*part+1234)
			st.failAt = 2*part + 100
			cps := &memCheckpoints{}
			s := s3.Stream{Digest: d, Size: int64(len(st.body)), Open: st.open, Manifest: []byte("{}")}
			if _, err := tg.PutStream(context.Background(), s, cps); err == nil {
				t.Fatal("the cut stream was completed")
			}
			st.failAt = 0
			rc, err := tg.PutStream(context.Background(), s, cps)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.offsets) != 2 || st.offsets[1] != 2*part {
				t.Fatalf("source opened at %v, want 0 then %d", st.offsets, 2*part)
			}
			if rc.BytesSent != int64(len(st.body))-2*part || st.sent != int64(len(st.body))+100 {
				t.Fatalf("resumed upload sent %d bytes, the station %d in all", rc.BytesSent, st.sent)
			}
			if !bytes.Equal(readAll(t, tg, d), st.body) {
				t.Fatal("the resumed object differs from the item")
			}
		})
	}
}

// TestPutStreamCutInFirstPartKeepsItsUpload: a worker stopped while its
// first part was in flight (a lease handed over to rebalance the fleet)
// leaves an upload recorded with no part stored; the next holder continues
// that upload instead of dropping it and starting another.
func TestPutStreamCutInFirstPartKeepsItsUpload(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			bucket := testkit.NewBucket(t, srv.Conn, true)
			tg := newTarget(t, srv.Conn, bucket, func(c *s3.Config) { c.Layout = target.Prefixed("st") })
			const part = 5 << 20
			st, d := newStation(t, 2*part+77)
			st.failAt = 100
			cps := &memCheckpoints{}
			s := s3.Stream{Digest: d, Size: int64(len(st.body)), Open: st.open, Manifest: []byte("{}")}
			if _, err := tg.PutStream(context.Background(), s, cps); err == nil {
				t.Fatal("the cut stream was completed")
			}
			first, ok, _ := cps.LoadCheckpoint(context.Background(), d)
			if !ok || first.UploadID == "" || len(first.Parts) != 0 {
				t.Fatalf("after a cut in part 1 the checkpoint is %+v (recorded %v), want an upload with no part", first, ok)
			}
			st.failAt = 0
			var uploads []string
			rec := &recordingCheckpoints{memCheckpoints: cps, saved: &uploads}
			if _, err := tg.PutStream(context.Background(), s, rec); err != nil {
				t.Fatal(err)
			}
			for _, id := range uploads {
				if id != first.UploadID {
					t.Fatalf("the resumed stream recorded upload %s, want the first one %s kept", id, first.UploadID)
				}
			}
			if !bytes.Equal(readAll(t, tg, d), st.body) {
				t.Fatal("the resumed object differs from the item")
			}
		})
	}
}

type recordingCheckpoints struct {
	*memCheckpoints
	saved *[]string
}

func (r *recordingCheckpoints) SaveCheckpoint(ctx context.Context, d evidence.Digest, cp target.Checkpoint) error {
	*r.saved = append(*r.saved, cp.UploadID)
	return r.memCheckpoints.SaveCheckpoint(ctx, d, cp)
}

// TestDocumentsAreLockedAndIdempotent: a receipt stored twice is one
// version, under COMPLIANCE retention.
func TestDocumentsAreLockedAndIdempotent(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			bucket := testkit.NewBucket(t, srv.Conn, true)
			tg := newTarget(t, srv.Conn, bucket, nil)
			_, d := newStation(t, 10)
			ctx := context.Background()
			for range 2 {
				if err := tg.PutDocument(ctx, "st/x.receipt.json", []byte(`{"r":1}`), d); err != nil {
					t.Fatal(err)
				}
			}
			b, err := tg.GetDocument(ctx, "st/x.receipt.json", 1<<10)
			if err != nil || string(b) != `{"r":1}` {
				t.Fatalf("document %q (%v)", b, err)
			}
			if n := versions(t, testkit.S3Client(t, srv.Conn), bucket, "st/x.receipt.json"); n["st/x.receipt.json"] != 1 {
				t.Fatalf("%d versions of the receipt, want 1", n["st/x.receipt.json"])
			}
			mode, _, err := tg.DocumentRetention(ctx, "st/x.receipt.json")
			if err != nil || mode != "COMPLIANCE" {
				t.Fatalf("receipt retention %q (%v)", mode, err)
			}
		})
	}
}

// TestRetentionQuirkIsReadFromHead: versitygw answers GetObjectRetention
// with <ObjectLockRetention>, which an AWS client cannot parse (the station
// used to retry such uploads for ever); the target reads the same facts
// from HEAD and still refuses anything but COMPLIANCE.
func TestRetentionQuirkIsReadFromHead(t *testing.T) {
	conn := testkit.Versity(t)
	bucket := testkit.NewBucket(t, conn, true)
	tg := newTarget(t, conn, bucket, nil)
	obj := randomFile(t, t.TempDir(), 1000)
	ctx := context.Background()
	if _, err := tg.Put(ctx, obj, nil); err != nil {
		t.Fatalf("put on versitygw: %v", err)
	}
	_, _, rawErr := testkit.S3Client(t, conn).GetObjectRetention(ctx, bucket, target.Key(obj.Digest), "")
	if rawErr == nil {
		t.Skip("this versitygw answers GetObjectRetention as AWS does; the quirk is gone")
	}
	mode, until, err := tg.Retention(ctx, obj.Digest)
	if err != nil || mode != string(minio.Compliance) || until.IsZero() {
		t.Fatalf("retention %q until %v (%v); the raw answer failed with %v", mode, until, err, rawErr)
	}
}

// TestCopyInFromAPushBucket: an item a station already pushed is copied
// server-side into central's layout, under COMPLIANCE, once; an item the
// push bucket does not hold is reported not found, for the caller to fetch.
func TestCopyInFromAPushBucket(t *testing.T) {
	for _, srv := range testkit.S3Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			ctx := context.Background()
			push := newTarget(t, srv.Conn, testkit.NewBucket(t, srv.Conn, true), nil)
			central := newTarget(t, srv.Conn, testkit.NewBucket(t, srv.Conn, true), func(c *s3.Config) { c.Layout = target.Prefixed("st") })
			obj := randomFile(t, t.TempDir(), 2<<20)
			if _, err := push.Put(ctx, obj, nil); err != nil {
				t.Fatal(err)
			}
			rc, found, err := central.CopyIn(ctx, push, obj)
			if err != nil || !found || rc.Key != "st/"+obj.Digest.String() {
				t.Fatalf("copy in: found %v, key %q (%v)", found, rc.Key, err)
			}
			want, _ := os.ReadFile(obj.Path)
			if !bytes.Equal(readAll(t, central, obj.Digest), want) {
				t.Fatal("the copy differs from the item")
			}
			if mode, _, err := central.Retention(ctx, obj.Digest); err != nil || mode != "COMPLIANCE" {
				t.Fatalf("retention of the copy %q (%v)", mode, err)
			}
			again, found, err := central.CopyIn(ctx, push, obj)
			if err != nil || !found || !again.Existing {
				t.Fatalf("second copy: existing %v (%v)", again.Existing, err)
			}
			other := randomFile(t, t.TempDir(), 1000)
			if _, found, err := central.CopyIn(ctx, push, other); found || err != nil {
				t.Fatalf("an item the push bucket lacks: found %v (%v)", found, err)
			}
		})
	}
}
