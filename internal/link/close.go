package link

import (
	"syscall"
	"time"
)

// CloseWrite sends end-of-stream after everything written so far; later
// writes fail with EPIPE. It never blocks.
func (l *Link) CloseWrite() {
	l.acquire()
	defer l.release()
	if l.finSent || l.werr != nil {
		return
	}
	l.finSent = true
	l.werr = syscall.EPIPE
	l.control(segFin, nil)
	signal(l.wwake)
}

// Reset sends a reset after everything written so far (the reader sees
// err once it has read what arrived before it); writes fail with err.
func (l *Link) Reset(err error) {
	l.acquire()
	defer l.release()
	l.resetLocked(err)
}

func (l *Link) resetLocked(err error) {
	l.werr = err
	l.stats.Resets++
	l.control(segRst, err)
	signal(l.wwake)
}

// control puts a FIN or RST in flight behind every queued segment.
// Requires l.mu held.
func (l *Link) control(k segKind, err error) {
	l.seq++
	s := newSegment()
	s.kind, s.seq, s.err = k, l.seq, err
	s.sent = maxTime(time.Now(), l.busy)
	s.at = s.sent.Add(l.p.Latency)
	s.rto = RTO(l.p)
	if k == segRst {
		l.trace(s, KindReset)
	}
	if l.rerr != nil || l.rclosed != nil {
		freeSegment(s) // nothing more reaches this reader
		return
	}
	l.mode.control(l, s)
}

// AbortWriter makes writes fail with err from now on; what is in flight is
// still delivered.
func (l *Link) AbortWriter(err error) {
	l.acquire()
	if l.werr == nil || l.werr == syscall.EPIPE {
		l.werr = err
	}
	l.release()
	signal(l.wwake)
}

// AbortReader makes reads fail with err once the data that has arrived is
// read; nothing more arrives.
func (l *Link) AbortReader(err error) {
	l.acquire()
	if l.rerr == nil {
		l.rerr = err
	}
	l.discardPending()
	l.release()
	signal(l.rwake)
}

// AbortReaderWhenIdle makes reads fail with err once nothing is in
// flight and nothing is left to read. It is for a reader that stands for
// the network, such as faultconn's Out pump after Close: a connection's
// last segment may be lost for good (a reset lost to a partition is never
// retransmitted), and then nothing would ever end its reads. If the link
// goes idle because its retransmissions gave up, reads fail with the
// timeout instead.
func (l *Link) AbortReaderWhenIdle(err error) {
	l.acquire()
	if l.idleErr == nil {
		l.idleErr = err
	}
	l.release()
	signal(l.rwake)
}

// CloseRead closes the reader side: reads fail with err at once, unread
// data is discarded, and data that arrives later is refused (the reader's
// End answers it with a reset). It returns how many unread bytes were
// discarded (a TCP stack answers those with a reset too). Segments in
// flight still arrive, at their instants, to be refused.
func (l *Link) CloseRead(err error) int {
	l.acquire()
	defer l.release()
	if l.rclosed != nil {
		return 0
	}
	l.rclosed = err
	unread := 0
	for _, s := range l.ready[l.rhead:] {
		if s.kind == segData {
			unread += len(s.data())
		}
		l.used -= s.reserve
		freeSegment(s)
	}
	clear(l.ready)
	l.ready, l.rhead = l.ready[:0], 0
	signal(l.rwake)
	signal(l.wwake)
	l.rdl.Release()
	return unread
}

// Shutdown fails both sides at once with err and frees everything queued:
// what Network.Close does to every link.
func (l *Link) Shutdown(err error) {
	l.AbortWriter(err) // first: a writer woken by the room CloseRead frees must see it
	l.CloseRead(err)
	l.acquire()
	l.discardPending()
	l.release()
	l.wdl.Release()
}
