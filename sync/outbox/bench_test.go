package outbox_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/time/rate"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/outbox"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/testkit"
)

// BenchmarkSyncVersusPutObject syncs 16 clips of 32 MiB (512 MiB) through
// the outbox and the S3 target (retention, checksums, manifest, HEAD
// verification, custody events) and, in the same run, uploads the same
// files with plain minio-go PutObject to the same server. sync/raw is the
// ratio of their throughputs. The two alternate in rounds of 4 clips, each
// round swapping which goes first, so that load from other processes on
// the machine falls on both alike.
func BenchmarkSyncVersusPutObject(b *testing.B) {
	const clips, size, round = 16, 32 << 20, 4
	conn := testkit.S3(b)
	src, store := &memSource{}, newMemStore()
	ds := addItems(b, src, store, clips, size)
	var rawTotal, syncTotal time.Duration
	for i := 0; i < b.N; i++ {
		rawBucket, syncBucket := testkit.NewBucket(b, conn, true), testkit.NewBucket(b, conn, true)
		tg, err := s3.New(s3.Config{Endpoint: conn.Endpoint, AccessKey: conn.AccessKey, SecretKey: conn.SecretKey,
			Region: conn.Region, Bucket: syncBucket, Retention: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		for r := 0; r < clips/round; r++ {
			batch := ds[r*round : (r+1)*round]
			if r%2 == 0 {
				rawTotal += rawPut(b, conn, rawBucket, src, batch)
				syncTotal += syncBatch(b, tg, src, batch)
			} else {
				syncTotal += syncBatch(b, tg, src, batch)
				rawTotal += rawPut(b, conn, rawBucket, src, batch)
			}
		}
	}
	mb := float64(clips*size) / 1e6 * float64(b.N)
	rawRate, syncRate := mb/rawTotal.Seconds(), mb/syncTotal.Seconds()
	b.ReportMetric(rawRate, "raw-MB/s")
	b.ReportMetric(syncRate, "sync-MB/s")
	b.ReportMetric(syncRate/rawRate, "sync/raw")
	if syncRate/rawRate < 0.9 {
		b.Errorf("sync throughput %.1f MB/s is below 0.9 of plain PutObject's %.1f MB/s", syncRate, rawRate)
	}
}

// rawPut uploads the batch with plain PutObject and returns the time taken.
func rawPut(b *testing.B, conn testkit.S3Conn, bucket string, src *memSource, batch []evidence.Digest) time.Duration {
	ctx := context.Background()
	client := testkit.S3Client(b, conn)
	start := time.Now()
	for _, d := range batch {
		o, _ := src.Object(ctx, d)
		f, err := os.Open(o.Path)
		if err != nil {
			b.Fatal(err)
		}
		_, err = client.PutObject(ctx, bucket, "raw/"+d.String(), f, o.Size, minio.PutObjectOptions{})
		f.Close()
		if err != nil {
			b.Fatalf("raw put: %v", err)
		}
	}
	return time.Since(start)
}

// syncBatch queues the batch in a fresh outbox, runs a worker until every
// item is verified and returns the time taken.
func syncBatch(b *testing.B, tg *s3.Target, src *memSource, batch []evidence.Digest) time.Duration {
	st := newMemStore()
	for j, d := range batch {
		st.enqueue(d, false, time.Now().Add(time.Duration(j)))
	}
	w, err := outbox.New(outbox.Config{Store: st, Source: src, Custody: &memCustody{}, Target: tg, Poll: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- w.Run(ctx) }()
	for !allIn(st, batch, outbox.StateVerified) {
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return took
}

// BenchmarkRateCap uploads 60 MB through the S3 target capped at 10 MB/s
// and reports the rate achieved; it must be within 5% of the cap.
func BenchmarkRateCap(b *testing.B) {
	const capBps = 10e6
	conn := testkit.S3(b)
	src, store := &memSource{}, newMemStore()
	ds := addItems(b, src, store, 3, 20e6)
	ctx := context.Background()
	var sent int64
	var took time.Duration
	for i := 0; i < b.N; i++ {
		bucket := testkit.NewBucket(b, conn, true)
		tg, err := s3.New(s3.Config{Endpoint: conn.Endpoint, AccessKey: conn.AccessKey, SecretKey: conn.SecretKey,
			Region: conn.Region, Bucket: bucket, Retention: time.Hour,
			Limiter: rate.NewLimiter(capBps, 256<<10)})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for _, d := range ds {
			o, _ := src.Object(ctx, d)
			rc, err := tg.Put(ctx, o, nil)
			if err != nil {
				b.Fatal(err)
			}
			sent += rc.BytesSent
		}
		took += time.Since(start)
	}
	got := float64(sent) / took.Seconds()
	b.ReportMetric(got/1e6, "MB/s")
	b.ReportMetric(capBps/1e6, "cap-MB/s")
	dev := (got - capBps) / capBps
	b.ReportMetric(100*dev, "deviation-%")
	if dev > 0.05 || dev < -0.05 {
		b.Errorf("rate %.2f MB/s is not within 5%% of the %.0f MB/s cap", got/1e6, capBps/1e6)
	}
}
