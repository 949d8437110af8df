package harness

import (
	"fmt"
	"time"

	"pgregory.net/rapid"
)

// A caseRunner runs the cases of one Check (or one Fuzz input), each in its
// own bubble, under one stall watchdog, and keeps what the property's own
// failure was when goroutines were left blocked: synctest then panics with
// "main bubble goroutine has exited but blocked goroutines remain", and
// rapid would report that panic instead of the property's failure.
// Cases run one at a time; a nil caseRunner does nothing.
type caseRunner struct {
	wd *watchdog
	// Set in the bubble by ended, read outside after the bubble ended
	// (synctest.Test's return orders the two).
	left       string // one-line account of the goroutines left blocked; "" if none
	propFailed bool   // the property failed
	propPanic  any    // what it panicked with (rapid's failure), if it did
}

func newCaseRunner(name string, stall time.Duration) (*caseRunner, error) {
	bound, err := stallBound(stall)
	if err != nil {
		return nil, err
	}
	return &caseRunner{wd: startWatchdog(name, bound)}, nil
}

func (cr *caseRunner) close() {
	if cr != nil {
		cr.wd.close()
	}
}

// syncTest runs one case in a bubble. If goroutines were left blocked, it
// re-panics with the property's own failure if there was one, else with a
// one-line account of the goroutines (their stacks are in the case's log).
func (cr *caseRunner) syncTest(rt *rapid.T, opts Options, body func(*T)) {
	cr.left, cr.propFailed, cr.propPanic = "", false, nil
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if cr.left != "" && isLeftoverDeadlock(r) {
			switch {
			case cr.propPanic != nil:
				panic(cr.propPanic)
			case cr.propFailed:
				panic(fmt.Sprintf("the property failed (its messages are in the output below), and %s", cr.left))
			}
			panic(cr.left)
		}
		panic(r)
	}()
	rapid.SyncTest(rt, func(rt *rapid.T) { runCase(rt, opts, body) })
}

// enter starts watching the case's bubble; call it in the bubble.
func (cr *caseRunner) enter(ht *T) {
	if cr == nil {
		return
	}
	cr.wd.enter(func() []string {
		return []string{
			"case: seed " + fmt.Sprint(ht.Seed) + ", faults " + ht.Faults.String(),
			"schedule: " + ht.Schedule.String(),
			"nemesis did: " + ht.nemesisLog(),
			"replay: this case's rapid seed is logged as it starts with go test -v -rapid.v (rapid prints seeds only for failures it sees end)",
		}
	})
}

// leave stops watching the case's bubble.
func (cr *caseRunner) leave() {
	if cr != nil {
		cr.wd.leave()
	}
}

// ended records, in the bubble, that the case left goroutines blocked
// (left says which), whether the property failed and how it panicked.
func (cr *caseRunner) ended(propPanic any, propFailed bool, left string) {
	if cr == nil {
		return
	}
	cr.left, cr.propFailed, cr.propPanic = left, propFailed, propPanic
}
