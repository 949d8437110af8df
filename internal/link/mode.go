package link

import (
	"syscall"
	"time"
)

// mode is what loss, duplication, reordering and corruption mean on a
// link: the Stream and Segments rules, chosen once in New. Every method
// requires l.mu held.
type mode interface {
	// ordered reports whether the reader takes segments in write order
	// (the FIFO) rather than in arrival order.
	ordered() bool
	// room is the window a new segment of size bytes with fate f needs,
	// and whether its duplicate is still sent: a duplicate that could
	// never fit is dropped. (Fates go by value: behind an interface, a
	// pointer to one would cost an allocation per segment.)
	room(l *Link, f fate, size int) (need int, dup bool)
	// queue puts a new data segment with fate f, sent at now, in flight.
	queue(l *Link, s *segment, f fate, now time.Time)
	// control puts a FIN or RST in flight behind what was written.
	control(l *Link, s *segment)
	// arrive handles the event due for s: an arrival, or a retransmission.
	arrive(l *Link, s *segment)
	// settle delivers what the arrivals just handled made deliverable.
	settle(l *Link)
}

var modeRules = [...]mode{Stream: streamMode{}, Segments: segmentsMode{}}

// streamMode is TCP-faithful: lost and corrupted transmissions are
// retransmitted on the RTO schedule, each drawing its fate when sent;
// duplicates are discarded by the receiver; the reader takes segments in
// order, so reordering becomes head-of-line delay.
type streamMode struct{}

func (streamMode) ordered() bool { return true }

func (streamMode) room(l *Link, f fate, size int) (int, bool) { return size, f.dup }

func (streamMode) queue(l *Link, s *segment, f fate, now time.Time) {
	s.lost, s.bad = f.lost, f.corrupt && !f.lost
	if f.dup {
		l.stats.Duplicated++
		l.trace(s, KindDuplicate) // the receiver discards the copy
	}
	if l.rerr != nil {
		l.stats.Dropped++ // nothing more reaches this reader
		freeSegment(s)
		return
	}
	l.used += s.reserve
	l.fifo = append(l.fifo, s)
	if !s.lost && !s.bad && !s.at.After(now) && len(l.fifo) == 1 && l.rclosed == nil && !l.blocked(s.at) {
		// Due now with nothing ahead of it: deliver without the timer.
		s.arrived = true
		streamMode{}.settle(l)
		return
	}
	l.push(s)
	l.arm()
}

func (streamMode) control(l *Link, s *segment) {
	l.fifo = append(l.fifo, s)
	l.push(s)
	l.arm()
}

func (streamMode) arrive(l *Link, s *segment) {
	if s.resend {
		l.retransmit(s)
		return
	}
	freed := s.freed // released by Unhold: this arrival is not held
	s.freed = false
	switch {
	case s.bad:
		l.stats.Corrupted++
		l.trace(s, KindCorrupt)
	case s.lost:
		l.stats.Lost++
		l.trace(s, KindLose)
	case l.blocked(s.at):
		l.trace(s, KindBlock)
		if s.kind == segRst {
			l.dropFromFIFO(s) // a reset is never retransmitted
			return
		}
		if s.kind == segData {
			l.stats.Lost++
		}
	case !freed && l.hold(s):
		return
	default:
		s.arrived = true
		return
	}
	l.retransmitLater(s)
}

func (streamMode) settle(l *Link) {
	i := 0
	for ; i < len(l.fifo) && l.fifo[i].arrived; i++ {
		l.deliver(l.fifo[i])
	}
	if i > 0 {
		n := copy(l.fifo, l.fifo[i:])
		clear(l.fifo[n:])
		l.fifo = l.fifo[:n]
	}
}

// retransmit sends s again at its retransmission instant, or gives up
// after MaxRetries. A data segment's transmission draws its fate under the
// profile in force now (only Stream retransmits data; Segments mode
// retransmits only a FIN held back by a partition). Requires l.mu held.
func (l *Link) retransmit(s *segment) {
	s.resend = false
	if s.attempt > MaxRetries {
		l.giveUp(s)
		return
	}
	l.stats.Retransmitted++
	l.trace(s, KindRetransmit)
	delay := l.p.Latency
	if s.kind == segData {
		var lost, bad bool
		lost, bad, delay = l.redraw(s)
		s.lost, s.bad = lost, bad && !lost
	}
	s.at = s.sent.Add(delay)
	l.push(s)
}

// retransmitLater schedules s's next transmission one RTO after the
// last, doubling the RTO; after MaxRetries the instant is the give-up.
func (l *Link) retransmitLater(s *segment) {
	s.attempt++
	s.sent = s.sent.Add(s.rto)
	s.rto = min(2*s.rto, MaxRTO)
	s.at = s.sent
	s.resend = true
	l.push(s)
}

// giveUp ends the connection's writing side: retransmissions of s gave
// up. Writes fail with ETIMEDOUT, nothing in flight arrives, and the
// writer's end applies its rule. Requires l.mu held.
func (l *Link) giveUp(s *segment) {
	l.trace(s, KindTimeout)
	l.werr = Injected(syscall.ETIMEDOUT)
	if l.idleErr != nil {
		// The link goes idle because it gave up: a reader waiting for
		// idleness (faultconn's Out pump after Close) is told so here,
		// under the lock, not by a rule that runs after it may have read.
		l.idleErr = l.werr
	}
	if !l.mode.ordered() {
		l.used -= s.reserve // popped, so discardPending does not see it
		freeSegment(s)
	}
	l.discardPending()
	l.due.timedOut = true
}

// dropFromFIFO removes s from the Stream FIFO and frees it.
func (l *Link) dropFromFIFO(s *segment) {
	for i, q := range l.fifo {
		if q == s {
			n := copy(l.fifo[i:], l.fifo[i+1:])
			l.fifo[i+n] = nil
			l.fifo = l.fifo[:i+n]
			break
		}
	}
	l.free(s)
}

// segmentsMode delivers every segment as its fate was drawn: holes,
// repeats, swaps and flipped bits, in arrival order.
type segmentsMode struct{}

func (segmentsMode) ordered() bool { return false }

func (segmentsMode) room(l *Link, f fate, size int) (int, bool) {
	if l.cfg.Packet {
		size += DatagramOverhead
	}
	if !f.dup || f.lost {
		return size, f.dup
	}
	if 2*size > l.window {
		return size, false // it could never fit, as a full receive buffer drops it
	}
	return 2 * size, true
}

func (segmentsMode) queue(l *Link, s *segment, f fate, _ time.Time) {
	if f.lost {
		l.stats.Lost++
		l.trace(s, KindLose) // its duplicate, if any, is lost with it
		freeSegment(s)
		return
	}
	if f.corrupt && len(s.data()) > 0 {
		(*s.buf)[f.bit/8] ^= 1 << (f.bit % 8)
		l.stats.Corrupted++
		l.trace(s, KindCorrupt)
	}
	l.lastAt = maxTime(l.lastAt, s.at)
	l.used += s.reserve
	l.push(s)
	if f.dup {
		d := newSegment()
		*d = *s
		d.buf = getBuf(len(*s.buf))
		copy(*d.buf, *s.buf)
		d.hidx = 0
		l.used += d.reserve
		l.stats.Duplicated++
		l.trace(s, KindDuplicate)
		l.push(d)
	}
	l.arm()
}

func (segmentsMode) control(l *Link, s *segment) {
	s.at = maxTime(s.at, l.lastAt) // after every data segment's arrival
	l.push(s)
	l.arm()
}

func (segmentsMode) arrive(l *Link, s *segment) {
	if s.resend {
		l.retransmit(s)
		return
	}
	freed := s.freed // released by Unhold: this arrival is not held
	s.freed = false
	if !l.blocked(s.at) {
		if freed || !l.hold(s) {
			l.deliver(s)
		}
		return
	}
	l.trace(s, KindBlock)
	if s.kind == segFin {
		l.retransmitLater(s) // data is lost to a partition; end of stream waits for the heal
		return
	}
	if s.kind == segData {
		l.stats.Lost++
	}
	l.free(s)
}

func (segmentsMode) settle(*Link) {}
