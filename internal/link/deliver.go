package link

import (
	"sync/atomic"
	"time"
)

// hooks are the connection rules that events handled under a link's lock
// made due; release applies them after unlocking, through the link's ends.
type hooks struct {
	timedOut bool  // this link's retransmissions gave up: the writer's rule
	injected error // a write drew a reset: the writer's rule
	reset    error // a reset reached the reader: the reader's rule
	refused  bool  // data reached a closed reader: the reader's rule
}

// run applies h through l's ends. Requires l.mu not held.
func (h hooks) run(l *Link) {
	if h == (hooks{}) {
		return
	}
	if w := l.writer; w != nil {
		if h.timedOut {
			w.retransmissionsGaveUp()
		}
		if h.injected != nil {
			w.resetInjected(h.injected)
		}
	}
	if r := l.reader; r != nil {
		if h.reset != nil {
			r.resetArrived(h.reset)
		}
		if h.refused {
			r.refusedData()
		}
	}
}

// timerRef is what a link's timer calls. It points back at the link only
// while the link has events pending, so that a stopped timer (which, in a
// synctest bubble, stays in the clock's heap until it was due) keeps a few
// bytes alive, not a closed connection.
type timerRef struct{ l atomic.Pointer[Link] }

func (r *timerRef) fire() {
	l := r.l.Load()
	if l == nil {
		return
	}
	l.mu.Lock()
	if l.fired != r {
		l.mu.Unlock() // a stale timer of this link
		return
	}
	l.armed = time.Time{} // this firing is the armed one
	l.catchUp()
	l.arm()
	l.release()
}

// arm sets the link's one timer for the earliest pending event. Requires
// l.mu held.
func (l *Link) arm() {
	if len(l.pend) == 0 {
		return
	}
	at := l.pend[0].at
	if !l.armed.IsZero() && !at.Before(l.armed) {
		return // the timer already fires no later than at
	}
	l.armed = at
	d := time.Until(at)
	if l.timer == nil {
		l.fired = new(timerRef)
		l.fired.l.Store(l)
		l.timer = time.AfterFunc(d, l.fired.fire)
		return
	}
	l.timer.Reset(d)
}

// disarm stops the timer and cuts it loose from the link. Requires l.mu
// held.
func (l *Link) disarm() {
	if l.timer != nil {
		l.timer.Stop()
		l.fired.l.Store(nil)
		l.timer, l.fired = nil, nil
	}
	l.armed = time.Time{}
}

// catchUp handles every event due by now, in (instant, order) order, and
// re-arms the timer. Requires l.mu held.
func (l *Link) catchUp() {
	if len(l.pend) == 0 {
		return
	}
	now := time.Now()
	if l.pend[0].at.After(now) {
		return
	}
	for len(l.pend) > 0 && !l.pend[0].at.After(now) {
		l.mode.arrive(l, l.pop())
	}
	l.mode.settle(l)
	l.arm()
}

// inFlight is the number of segments not yet delivered. Requires l.mu held.
func (l *Link) inFlight() int {
	n := len(l.pend) + len(l.held)
	for _, s := range l.fifo {
		if s.arrived {
			n++
		}
	}
	return n
}

// blocked reports whether a partition stops an arrival at t.
func (l *Link) blocked(t time.Time) bool {
	return l.cfg.Blocked != nil && l.cfg.Blocked(t)
}

// deliver moves s to the reader. Requires l.mu held.
func (l *Link) deliver(s *segment) {
	if l.rerr != nil || l.rclosed != nil {
		if s.kind == segData && l.rclosed != nil {
			// Dropped by a closed reader, which answers with a reset.
			l.stats.Dropped++
			l.trace(s, KindDrop)
			l.due.refused = true
		}
		l.free(s)
		return
	}
	if l.cfg.Sink != nil && s.kind == segData {
		l.stats.Delivered++
		l.trace(s, KindDeliver)
		l.cfg.Sink(s.data(), s.addr)
		l.free(s)
		return
	}
	switch s.kind {
	case segData:
		l.stats.Delivered++
		l.trace(s, KindDeliver)
	case segFin:
		l.trace(s, KindFin)
	case segRst:
		l.due.reset = s.err
	}
	l.ready = append(l.ready, s)
	signal(l.rwake)
}

// free gives back s's window room and buffer. Requires l.mu held.
func (l *Link) free(s *segment) {
	l.used -= s.reserve
	freeSegment(s)
	signal(l.wwake)
	if l.idleErr != nil {
		signal(l.rwake) // the link may have become idle
	}
}

// discardPending frees every segment not yet delivered and stops the
// timer. Requires l.mu held.
func (l *Link) discardPending() {
	for _, s := range l.pend {
		if l.mode.ordered() {
			continue // also in the FIFO, freed below
		}
		l.used -= s.reserve
		freeSegment(s)
	}
	for _, s := range l.fifo {
		l.used -= s.reserve
		freeSegment(s)
	}
	for _, s := range l.held {
		if !l.mode.ordered() { // in Stream mode, in the FIFO
			l.used -= s.reserve
			freeSegment(s)
		}
	}
	clear(l.pend)
	clear(l.fifo)
	clear(l.held)
	l.pend, l.fifo, l.held = l.pend[:0], l.fifo[:0], l.held[:0]
	l.disarm()
	signal(l.wwake)
	if l.idleErr != nil {
		signal(l.rwake)
	}
}

// hold keeps s, whose arrival falls in a pause, for Unhold, and reports
// whether it did. Requires l.mu held.
func (l *Link) hold(s *segment) bool {
	if l.cfg.Held == nil || !l.cfg.Held(s.at) {
		return false
	}
	l.held = append(l.held, s)
	l.trace(s, KindHold)
	return true
}

// Unhold releases the segments a pause held: they arrive at at (not
// before now), in the order they were held. (The front end calls it when
// the pause ends.) It reports whether the link held any.
func (l *Link) Unhold(at time.Time) bool {
	l.acquire()
	defer l.release()
	if len(l.held) == 0 {
		return false
	}
	at = maxTime(at, time.Now())
	for _, s := range l.held {
		// It was in the network until at: it arrives then, and a
		// retransmission, if the arrival meets a partition or a crash,
		// counts from then.
		s.freed = true
		s.sent, s.at = at, at
		l.push(s)
	}
	clear(l.held)
	l.held = l.held[:0]
	l.catchUp()
	l.arm()
	return true
}
