package link

import (
	"io"
	"net"
	"os"
)

// Read reads the data of at most one segment. It blocks until data, end of
// stream, an error, or the read deadline.
func (l *Link) Read(b []byte) (int, error) {
	n, _, err := l.read(b, false)
	return n, err
}

// ReadFrom reads one datagram and its source; a datagram longer than b is
// truncated, the rest discarded.
func (l *Link) ReadFrom(b []byte) (int, net.Addr, error) {
	return l.read(b, true)
}

func (l *Link) read(b []byte, packet bool) (int, net.Addr, error) {
	l.acquire()
	defer l.release()
	for {
		if l.rclosed != nil {
			signal(l.rwake)
			return 0, nil, l.rclosed
		}
		if l.rdl.Passed() {
			// As with sockets, a passed deadline fails the read even
			// when data is waiting.
			return 0, nil, os.ErrDeadlineExceeded
		}
		if l.rhead < len(l.ready) {
			return l.take(b, packet)
		}
		if l.rerr != nil {
			signal(l.rwake)
			return 0, nil, l.rerr
		}
		if l.idleErr != nil && l.inFlight() == 0 {
			signal(l.rwake)
			return 0, nil, l.idleErr
		}
		if len(b) == 0 && !packet {
			return 0, nil, nil
		}
		l.release()
		select {
		case <-l.rwake:
		case <-l.rdl.Wait():
		}
		l.acquire()
	}
}

// take reads from the first ready segment. Requires l.mu held.
func (l *Link) take(b []byte, packet bool) (int, net.Addr, error) {
	s := l.ready[l.rhead]
	switch s.kind {
	case segFin:
		l.finRead = true
		signal(l.rwake)
		return 0, nil, io.EOF
	case segRst:
		signal(l.rwake)
		return 0, nil, s.err
	}
	if len(b) == 0 && !packet {
		return 0, nil, nil
	}
	n := copy(b, s.data())
	addr := s.addr
	s.off += n
	if packet {
		s.off = len(*s.buf)
	}
	l.used -= s.reserve - (len(*s.buf) - s.off)
	s.reserve = len(*s.buf) - s.off
	if s.reserve == 0 {
		l.ready[l.rhead] = nil
		l.rhead++
		freeSegment(s)
		if l.rhead == len(l.ready) {
			l.ready, l.rhead = l.ready[:0], 0
		}
	}
	signal(l.wwake)
	if l.rhead < len(l.ready) {
		signal(l.rwake)
	}
	return n, addr, nil
}
