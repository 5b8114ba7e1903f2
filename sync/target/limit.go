package target

import (
	"context"
	"io"

	"golang.org/x/time/rate"
)

// NewLimiter is a limiter of bytesPerSecond for LimitReader, with a burst
// of a tenth of a second (64 KiB at least, so reads stay efficient); nil
// when bytesPerSecond is not positive: no limit.
func NewLimiter(bytesPerSecond float64) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bytesPerSecond), int(max(bytesPerSecond/10, 64<<10)))
}

// LimitReader returns a reader that takes no more bytes from r than lim
// allows; a nil lim means no limit. One limiter shared by every reader caps
// the uplink as a whole. Each read is cut to the limiter's burst, since
// WaitN refuses to wait for more than that.
func LimitReader(ctx context.Context, r io.Reader, lim *rate.Limiter) io.Reader {
	if lim == nil {
		return r
	}
	return &limitReader{ctx: ctx, r: r, lim: lim}
}

type limitReader struct {
	ctx context.Context
	r   io.Reader
	lim *rate.Limiter
}

func (l *limitReader) Read(p []byte) (int, error) {
	if b := l.lim.Burst(); len(p) > b && b > 0 {
		p = p[:b]
	}
	n, err := l.r.Read(p)
	if n > 0 {
		if werr := l.lim.WaitN(l.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// ProgressReader calls fn with the size of every read from r.
func ProgressReader(r io.Reader, fn func(n int64)) io.Reader {
	if fn == nil {
		return r
	}
	return &progressReader{r: r, fn: fn}
}

type progressReader struct {
	r  io.Reader
	fn func(n int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.fn(int64(n))
	}
	return n, err
}
