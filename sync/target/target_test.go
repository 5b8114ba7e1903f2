package target_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/target"
)

func TestKeys(t *testing.T) {
	d := evidence.DigestBytes([]byte("clip"))
	h := d.String()
	if got, want := target.Key(d), "evidence/"+h[:2]+"/"+h; got != want {
		t.Errorf("Key = %s, want %s", got, want)
	}
	if got := target.ManifestKey(d); got != target.Key(d)+".manifest.json" {
		t.Errorf("ManifestKey = %s", got)
	}
}

func TestClassOf(t *testing.T) {
	auth := target.Errorf(target.ClassAuth, "put: %w", io.EOF)
	cases := []struct {
		err  error
		want target.Class
	}{
		{nil, ""},
		{auth, target.ClassAuth},
		{fmt.Errorf("upload item: %w", auth), target.ClassAuth},
		{errors.New("plain"), target.ClassOther},
		{context.DeadlineExceeded, target.ClassNetwork},
	}
	for _, c := range cases {
		if got := target.ClassOf(c.err); got != c.want {
			t.Errorf("ClassOf(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	if !errors.Is(auth, io.EOF) {
		t.Errorf("classified error does not unwrap to its cause")
	}
	if !strings.HasPrefix(auth.Error(), "auth: ") {
		t.Errorf("message %q does not start with its class", auth)
	}
}

// chunkRecorder records the size of every read it serves.
type chunkRecorder struct {
	r     io.Reader
	sizes []int
}

func (c *chunkRecorder) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.sizes = append(c.sizes, n)
	return n, err
}

func TestLimitReaderPassesEveryByteInBurstSizedReads(t *testing.T) {
	data := bytes.Repeat([]byte("evidence"), 64<<10) // 512 KiB
	src := &chunkRecorder{r: bytes.NewReader(data)}
	var seen int64
	lim := rate.NewLimiter(rate.Inf, 32<<10)
	r := target.LimitReader(context.Background(), target.ProgressReader(src, func(n int64) { seen += n }), lim)
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, err %v; want the %d bytes unchanged", len(got), err, len(data))
	}
	if seen != int64(len(data)) {
		t.Errorf("progress saw %d bytes, want %d", seen, len(data))
	}
	for _, n := range src.sizes {
		if n > 32<<10 {
			t.Fatalf("a read of %d bytes exceeds the limiter's burst", n)
		}
	}
}

func TestLimitReaderStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	// 1 KiB/s: the second read would wait for a long time.
	r := target.LimitReader(ctx, bytes.NewReader(make([]byte, 1<<20)), rate.NewLimiter(1024, 1024))
	buf := make([]byte, 4096)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	start := time.Now()
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("read the whole megabyte at 1 KiB/s without error")
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("cancel took %v to stop the reader", time.Since(start))
	}
}
