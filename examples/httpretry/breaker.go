package httpretry

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrOpen is the error of a call the circuit breaker refused: the breaker
// is open (or half-open with its one trial in flight), so the call failed
// at once without touching the network. Client errors wrap it; test with
// errors.Is.
var ErrOpen = errors.New("httpretry: circuit breaker is open")

// State is a circuit breaker's state.
type State int

const (
	// Closed lets every call through and counts consecutive failures.
	Closed State = iota
	// Open refuses every call until the cool-down has passed.
	Open
	// HalfOpen lets one trial call through; its outcome closes the
	// breaker or opens it again.
	HalfOpen
)

var stateNames = [...]string{"closed", "open", "half-open"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Defaults of Breaker's fields.
const (
	DefaultFailures = 5
	DefaultCoolDown = 5 * time.Second
)

// Breaker is a circuit breaker. Closed, it lets calls through and counts
// consecutive failures; the Failures-th opens it. Open, it refuses calls
// with ErrOpen, at once, for CoolDown. The first call after the cool-down
// turns it half-open and is let through as the trial; other calls are
// refused while the trial is in flight. A successful trial closes the
// breaker, a failed one opens it again for another CoolDown.
//
// The breaker has no timer or goroutine: it changes state only when a call
// asks (Allow) or reports (the function Allow returns), so every
// transition happens at the instant of a call or of its outcome.
//
// The zero value is a closed breaker with the default settings. Set the
// exported fields before first use. A Breaker is safe for concurrent use.
type Breaker struct {
	// Failures is how many consecutive failures open the breaker; zero
	// means DefaultFailures.
	Failures int
	// CoolDown is how long the breaker stays open before it lets a trial
	// call through; zero means DefaultCoolDown.
	CoolDown time.Duration
	// OnChange, if not nil, is called after every transition, from the
	// goroutine of the call that caused it, without the breaker's lock
	// held. Transitions caused by concurrent calls may be reported out of
	// order.
	OnChange func(from, to State)

	mu       sync.Mutex // guards the fields below
	state    State
	fails    int       // consecutive failures while closed
	openedAt time.Time // when it last opened
	trial    bool      // half-open: the trial is in flight
	gen      uint64    // counts transitions; outcomes of calls let through in an older generation are ignored
}

// Allow asks to make one call. If the breaker refuses, it returns an error
// wrapping ErrOpen, without blocking. Otherwise the caller makes the call
// and must then call done exactly once with its outcome. Outcomes of calls
// that were let through before the breaker last changed state are ignored
// (a slow success admitted before the breaker opened does not close it).
func (b *Breaker) Allow() (done func(success bool), err error) {
	b.mu.Lock()
	var changed []transition
	switch b.state {
	case Open:
		if time.Since(b.openedAt) < b.coolDown() {
			b.mu.Unlock()
			return nil, ErrOpen
		}
		changed = b.setLocked(HalfOpen)
		b.trial = true
	case HalfOpen:
		if b.trial {
			b.mu.Unlock()
			return nil, ErrOpen
		}
		b.trial = true
	}
	gen := b.gen
	b.mu.Unlock()
	b.report(changed)
	var once sync.Once
	return func(success bool) { once.Do(func() { b.outcome(gen, success) }) }, nil
}

// outcome records the outcome of a call let through in generation gen.
func (b *Breaker) outcome(gen uint64, success bool) {
	b.mu.Lock()
	if gen != b.gen {
		b.mu.Unlock()
		return
	}
	var changed []transition
	switch b.state {
	case Closed:
		if success {
			b.fails = 0
		} else if b.fails++; b.fails >= b.failures() {
			changed = b.setLocked(Open)
		}
	case HalfOpen:
		b.trial = false
		if success {
			changed = b.setLocked(Closed)
		} else {
			changed = b.setLocked(Open)
		}
	}
	b.mu.Unlock()
	b.report(changed)
}

// State returns the breaker's state. An open breaker whose cool-down has
// passed still reports Open until a call asks and becomes the trial.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

type transition struct{ from, to State }

// setLocked moves to state s and returns the transition to report.
// b.mu must be held.
func (b *Breaker) setLocked(s State) []transition {
	t := transition{b.state, s}
	b.state = s
	b.gen++
	b.fails = 0
	b.trial = false
	if s == Open {
		b.openedAt = time.Now()
	}
	return []transition{t}
}

func (b *Breaker) report(ts []transition) {
	if b.OnChange == nil {
		return
	}
	for _, t := range ts {
		b.OnChange(t.from, t.to)
	}
}

func (b *Breaker) failures() int { return positiveOr(b.Failures, DefaultFailures) }

func (b *Breaker) coolDown() time.Duration { return positiveOr(b.CoolDown, DefaultCoolDown) }
