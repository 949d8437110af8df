package kv

import (
	"math"
	"math/rand/v2"
	"time"
)

// Backoff computes the delays between a client's attempts: exponential
// growth with full jitter. The delay before retry n (n = 1 for the first
// retry) is drawn uniformly from [0, min(Max, Base·2^(n-1))], so that
// clients that failed together do not retry together, and the expected
// wait still doubles with every failure.
//
// Its random source is its own, seeded by NewBackoff: the same seed gives
// the same delays. A Backoff is not safe for concurrent use.
type Backoff struct {
	Base time.Duration // the cap of the first delay
	Max  time.Duration // the cap of every delay
	rng  *rand.Rand
}

// NewBackoff returns a backoff with caps base and max and its own random
// source seeded with seed (zero is a seed like any other).
func NewBackoff(base, max time.Duration, seed uint64) *Backoff {
	return &Backoff{Base: base, Max: max, rng: rand.New(rand.NewPCG(seed, 0x6b762d6261636b6f))} // "kv-backo"
}

// Cap returns the largest delay before retry n: min(Max, Base·2^(n-1)).
func (b *Backoff) Cap(n int) time.Duration {
	c := b.Base
	for i := 1; i < n && c < b.Max; i++ {
		if c > b.Max/2 {
			return b.Max
		}
		c *= 2
	}
	return min(c, b.Max)
}

// Delay draws the delay before retry n, uniformly from [0, Cap(n)].
func (b *Backoff) Delay(n int) time.Duration {
	c := b.Cap(n)
	switch {
	case c <= 0:
		return 0
	case c == math.MaxInt64:
		return time.Duration(b.rng.Int64())
	}
	return time.Duration(b.rng.Int64N(int64(c) + 1))
}
