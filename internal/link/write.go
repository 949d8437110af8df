package link

import (
	"net"
	"os"
	"syscall"
	"time"
)

// DatagramOverhead is what each datagram costs in a window or a receive
// queue besides its payload, as a kernel charges each packet's buffer: so
// that empty datagrams cannot pile up without limit.
const DatagramOverhead = 256

// lockWriter takes the writer semaphore, or fails at the write deadline.
func (l *Link) lockWriter() error {
	select {
	case l.wsem <- struct{}{}:
		return nil
	default:
	}
	select {
	case l.wsem <- struct{}{}:
		return nil
	case <-l.wdl.Wait():
		return os.ErrDeadlineExceeded
	}
}

func (l *Link) unlockWriter() { <-l.wsem }

// Write queues b as segments and returns once they are all queued, like a
// kernel send buffer. It blocks while the window is full, until room,
// the write deadline, or an error of the writer side.
func (l *Link) Write(b []byte) (int, error) {
	if err := l.lockWriter(); err != nil {
		return 0, err
	}
	defer l.unlockWriter()
	l.acquire()
	defer l.release()
	if l.werr != nil {
		return 0, l.werr
	}
	if l.wdl.Passed() {
		return 0, os.ErrDeadlineExceeded
	}
	if len(b) > 0 {
		l.keyFrom(b)
	}
	n := 0
	for n < len(b) {
		p := l.p
		size := len(b) - n
		maxSeg := l.window
		if p.Segment > 0 {
			maxSeg = min(p.Segment, l.window)
		}
		size = min(size, maxSeg)
		var f fate
		if sc := l.cfg.Script; sc != nil {
			sf := sc.Next(size)
			size = min(max(sf.Size, 1), size)
			f = l.scripted(&p, sf, size)
		} else {
			f = l.draw(&p, size)
		}
		need, dup := l.mode.room(l, f, size)
		f.dup = dup
		for l.used+need > l.window {
			if err := l.waitRoom(); err != nil {
				return n, err
			}
		}
		if f.reset {
			// The connection is reset instead of this segment being sent.
			// Like a kernel that took the bytes before the reset, the write
			// reports success; the rest of it is never sent, later writes
			// fail, and both ends see the reset, this one at once through
			// its End's rule, not this call's result (a write and a read
			// racing to report one reset would make replays differ).
			l.resetLocked(Injected(syscall.ECONNRESET))
			l.due.injected = l.werr
			return len(b), nil
		}
		l.send(&p, f, b[n:n+size], nil)
		n += size
	}
	return n, nil
}

// waitRoom waits, with l.mu held on entry and exit, until the window may
// have room, the writer side fails, or the deadline passes.
func (l *Link) waitRoom() error {
	if l.werr != nil {
		return l.werr
	}
	if l.wdl.Passed() {
		return os.ErrDeadlineExceeded
	}
	l.release()
	select {
	case <-l.wwake:
	case <-l.wdl.Wait():
	}
	l.acquire()
	if l.werr != nil {
		return l.werr
	}
	return nil
}

// WriteTo queues one datagram for addr. It never blocks: a datagram that
// would take the link over its window is dropped, as a full socket buffer
// drops it, and counted in Stats.Dropped.
func (l *Link) WriteTo(b []byte, addr net.Addr) (int, error) {
	l.acquire()
	defer l.release()
	if l.werr != nil {
		return 0, l.werr
	}
	if l.wdl.Passed() {
		return 0, os.ErrDeadlineExceeded
	}
	l.keyFrom(b)
	p := l.p
	f := l.draw(&p, len(b))
	need, dup := l.mode.room(l, f, len(b))
	f.dup = dup
	if l.used+need > l.window || l.rclosed != nil {
		l.seq++
		l.stats.Dropped++
		l.trace(&segment{seq: l.seq}, KindDrop)
		return len(b), nil
	}
	l.send(&p, f, b, addr)
	return len(b), nil
}

// send puts one new data segment whose fate is f in flight. Requires l.mu
// held.
func (l *Link) send(p *Profile, f fate, b []byte, addr net.Addr) {
	now := time.Now()
	l.seq++
	l.stats.Segments++
	l.stats.Bytes += uint64(len(b))
	s := newSegment()
	s.kind = segData
	s.seq = l.seq
	s.buf = getBuf(len(b))
	copy(*s.buf, b)
	s.addr = addr
	l.trace(s, KindSend)

	// Serialization: the segment leaves when the link is free and it has
	// been clocked out at the profile's bandwidth.
	start := maxTime(now, l.busy)
	if p.Bandwidth > 0 {
		x := int64(len(b))*int64(time.Second) + l.carry
		start = start.Add(time.Duration(x / p.Bandwidth))
		l.carry = x % p.Bandwidth
		l.busy = start
	}
	s.sent = start
	delay := f.delay
	if f.reorder {
		delay += ReorderHold(*p)
		l.stats.Reordered++
		l.trace(s, KindReorder)
	}
	s.at = s.sent.Add(delay)
	s.rto = RTO(*p)
	s.reserve = len(b)
	if l.cfg.Packet {
		s.reserve += DatagramOverhead
	}
	l.mode.queue(l, s, f, now)
}
