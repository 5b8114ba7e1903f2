package vault

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

const (
	copyChunk   = 1 << 20
	copyBuffers = 8
)

// chunkPool keeps copy buffers between ingests: a fresh set per ingest
// (8 MiB zeroed for a 10 KB thumbnail) was a tenth of the daemon's CPU
// with 16 cameras sealing segments and triage storing thumbnails.
type chunkPool struct{ pool sync.Pool }

func (p *chunkPool) get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, copyChunk)
}

func (p *chunkPool) put(b []byte) { p.pool.Put(&b) }

// copyHashing copies src to dst and hashes the same bytes on two cores at
// once: SHA-256 and the write to disk cost about the same here, so running
// them side by side takes the time of the slower one rather than the sum.
// Each chunk is read once; hasher and writer see the same buffer. Buffers
// are taken from bufs as the copy needs them, at most copyBuffers, and
// given back at the end.
func copyHashing(ctx context.Context, bufs *chunkPool, dst io.Writer, src io.Reader) (evidence.Digest, int64, error) {
	free := make(chan []byte, copyBuffers)
	taken := 0
	next := func() []byte {
		select {
		case b := <-free:
			return b
		default:
		}
		if taken < copyBuffers {
			taken++
			return bufs.get()
		}
		return <-free
	}
	defer func() {
		for range taken {
			bufs.put(<-free)
		}
	}()
	type chunk struct {
		b    []byte
		done *sync.WaitGroup
	}
	toHash := make(chan chunk, copyBuffers)
	h := evidence.NewHasher()
	hashDone := make(chan struct{})
	go func() {
		defer close(hashDone)
		for c := range toHash {
			h.Write(c.b)
			c.done.Done()
		}
	}()

	var written int64
	var err error
	for {
		if err = ctx.Err(); err != nil {
			break
		}
		buf := next()
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			done := &sync.WaitGroup{}
			done.Add(1)
			toHash <- chunk{b: buf[:n], done: done}
			_, werr := dst.Write(buf[:n])
			written += int64(n)
			// The buffer goes back only once the hasher is done with it.
			go func() { done.Wait(); free <- buf }()
			if werr != nil {
				err = werr
				break
			}
		} else {
			free <- buf
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	close(toHash)
	<-hashDone
	if err != nil {
		return evidence.Digest{}, written, err
	}
	return h.Sum(), h.Size(), nil
}

// contextReader stops a long read when its context ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
