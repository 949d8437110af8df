package link

import (
	"sync"
	"sync/atomic"
	"time"
)

// Deadline is one direction's deadline, modelled on net.Pipe's: Wait returns
// a channel that is closed once the deadline has passed. A deadline in the
// past fails at once, the zero time clears it, and it can be re-armed after
// it expired. It keeps one timer and re-arms it, so that moving a deadline
// often (per request) leaves no stopped timers behind; Release cuts the
// timer loose when the connection closes, so that a far deadline does not
// keep a closed connection in memory until it would have passed.
// The zero value has no deadline. Safe for concurrent use.
type Deadline struct {
	mu     sync.Mutex // guards the fields below; a leaf lock
	timer  *time.Timer
	ref    *deadlineRef  // what timer calls
	cancel chan struct{} // closed when the deadline passes; nil until needed
	at     time.Time     // the deadline; zero when none
	set    atomic.Bool   // at is not zero, for Passed without the lock
}

// deadlineRef points back at its Deadline until Release.
type deadlineRef struct{ d atomic.Pointer[Deadline] }

func (r *deadlineRef) expire() {
	if d := r.d.Load(); d != nil {
		d.expire()
	}
}

// Set arms the deadline for t; the zero time clears it.
func (d *Deadline) Set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = t
	d.set.Store(!t.IsZero())
	if d.timer != nil {
		d.timer.Stop()
	}
	if d.cancel == nil || isClosed(d.cancel) {
		d.cancel = make(chan struct{})
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.cancel)
		return
	}
	if d.timer == nil {
		d.ref = new(deadlineRef)
		d.ref.d.Store(d)
		d.timer = time.AfterFunc(dur, d.ref.expire)
	} else {
		d.timer.Reset(dur)
	}
}

// Release stops the timer and cuts it loose; the deadline still reports
// Passed by the clock, and a later Set arms a new timer.
func (d *Deadline) Release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.ref.d.Store(nil)
		d.timer, d.ref = nil, nil
	}
}

// expire closes the channel if the deadline it was armed for has come (a
// stale firing, from before the last Set, finds it has not).
func (d *Deadline) expire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.at.IsZero() && !time.Now().Before(d.at) && !isClosed(d.cancel) {
		close(d.cancel)
	}
}

// Wait returns a channel that is closed when the deadline has passed.
func (d *Deadline) Wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel == nil {
		d.cancel = make(chan struct{})
	}
	return d.cancel
}

// Passed reports whether the deadline has passed. It compares with the
// clock rather than asking the timer, so that at the deadline's very
// instant the answer does not depend on whether the timer's goroutine has
// run yet.
func (d *Deadline) Passed() bool {
	if !d.set.Load() {
		return false // no deadline: the common case, without the lock
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.at.IsZero() && !time.Now().Before(d.at)
}

func isClosed(c chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}
