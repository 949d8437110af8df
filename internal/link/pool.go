package link

import (
	"math/bits"
	"sync"
)

// Segment buffers come from size-class pools so that a link in steady state
// allocates nothing per write; every pooled buffer is owned by exactly one
// segment between get and put.
const (
	minClass = 6  // 64 B
	maxClass = 26 // 64 MiB; larger segments are allocated and dropped
)

var (
	bufPools [maxClass + 1]sync.Pool
	segPool  = sync.Pool{New: func() any { return new(segment) }}
)

func getBuf(n int) *[]byte {
	c := max(bits.Len(uint(n-1)), minClass)
	if n == 0 {
		c = minClass
	}
	if c > maxClass {
		b := make([]byte, n)
		return &b
	}
	if p, _ := bufPools[c].Get().(*[]byte); p != nil {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, 1<<c)
	return &b
}

func putBuf(p *[]byte) {
	c := bits.Len(uint(cap(*p) - 1))
	if cap(*p) != 1<<c || c < minClass || c > maxClass {
		return
	}
	bufPools[c].Put(p)
}

func newSegment() *segment { return segPool.Get().(*segment) }

func freeSegment(s *segment) {
	if s.buf != nil {
		putBuf(s.buf)
	}
	*s = segment{}
	segPool.Put(s)
}
