package link

import (
	"net"
	"time"
)

type segKind uint8

const (
	segData segKind = iota
	segFin
	segRst
)

// segment is one unit of transmission; while queued it is owned by the link.
type segment struct {
	kind    segKind
	seq     uint64
	buf     *[]byte // pooled; the data is (*buf)[off:]
	off     int
	addr    net.Addr
	err     error         // segRst: what the reader sees
	at      time.Time     // next event: arrival of the current transmission, or its retransmission
	sent    time.Time     // when the current transmission left
	rto     time.Duration // current retransmission timeout
	attempt int           // transmission number, from 0
	lost    bool          // Stream: the current transmission is lost
	bad     bool          // Stream: the current transmission arrives corrupted (and is discarded)
	arrived bool          // Stream: arrived, waiting for head-of-line
	resend  bool          // Stream: at is a retransmission (or give-up) instant
	freed   bool          // released by Unhold: its next arrival is not held
	order   uint64        // tie-break for equal instants
	hidx    int
	reserve int // window bytes held
}

func (s *segment) data() []byte { return (*s.buf)[s.off:] }

// The pending segments form a min-heap by (at, order).

func (l *Link) less(i, j int) bool {
	a, b := l.pend[i], l.pend[j]
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.order < b.order
}

func (l *Link) swap(i, j int) {
	l.pend[i], l.pend[j] = l.pend[j], l.pend[i]
	l.pend[i].hidx, l.pend[j].hidx = i, j
}

func (l *Link) push(s *segment) {
	l.order++
	s.order = l.order
	s.hidx = len(l.pend)
	l.pend = append(l.pend, s)
	for i := s.hidx; i > 0; {
		parent := (i - 1) / 2
		if !l.less(i, parent) {
			break
		}
		l.swap(i, parent)
		i = parent
	}
}

func (l *Link) pop() *segment {
	n := len(l.pend) - 1
	l.swap(0, n)
	s := l.pend[n]
	l.pend[n] = nil
	l.pend = l.pend[:n]
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && l.less(c+1, c) {
			c++
		}
		if !l.less(c, i) {
			break
		}
		l.swap(i, c)
		i = c
	}
	return s
}
