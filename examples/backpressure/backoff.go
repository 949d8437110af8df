package backpressure

import (
	"context"
	"math/rand/v2"
	"net"
	"time"
)

// Defaults of the clients' retry settings.
const (
	DefaultMinBackoff = 10 * time.Millisecond
	DefaultMaxBackoff = time.Second
	DefaultTimeout    = 5 * time.Second
)

// backoff is exponential backoff with "equal jitter": the n-th wait is
// drawn from [d/2, d] where d doubles from min up to max. Its random
// source is its client's own, seeded from the client's config.
type backoff struct {
	min, max, cur time.Duration
	rng           *rand.Rand
}

func (b *backoff) reset() { b.cur = 0 }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + time.Duration(b.rng.Int64N(int64(b.cur-half)+1))
}

// sleep waits for d or until ctx ends, and reports whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// guard bounds the use of c by ctx: c's deadline becomes ctx's, and when
// ctx ends early (cancelled) the deadline is moved to the past so that
// blocked reads and writes return at once. stop reports whether c was left
// alone, that is, whether it may be used again.
func guard(ctx context.Context, c net.Conn) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
}
