package harness

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// DefaultStall is how long, in real time, a bubble may go without progress
// before the stall watchdog fails the test, when neither the options nor
// -headwind.stall (HEADWIND_STALL) say otherwise.
const DefaultStall = 10 * time.Second

// stallExplained is the one line that says what a stall means.
const stallExplained = "the virtual clock only advances when every goroutine in the bubble is durably blocked; " +
	"the ones marked NOT DURABLE are not, so time stopped"

// A watchdog watches, from outside, the bubble a Run test or a Check case
// runs in, and fails the test when the bubble has made no progress for a
// real-time bound.
//
// Progress cannot be read off the virtual clock from outside (time.Now
// there is real time), and a goroutine inside the bubble that woke up to
// report it would itself keep virtual time moving forever. So the
// watchdog samples the bubble's goroutines (runtime.Stack marks bubble
// membership and durable waits) every fifth of the bound: the bubble is
// stalled when some goroutine is not durably blocked and no goroutine's
// state or stack has changed over the whole bound. Every goroutine
// durably blocked is never a stall (time advances, or synctest reports a
// deadlock itself), and anything that moves resets the count.
//
// A stalled test cannot be ended from outside: waking a goroutine of the
// bubble from outside is a fatal error, and the waits that stall it are
// on mutexes or real I/O the harness does not own. So the watchdog panics
// with the diagnosis, as go test -timeout does; the test binary exits and
// go test reports the test as failed.
type watchdog struct {
	name  string
	bound time.Duration

	mu     sync.Mutex      // guards bubble, gen and about
	bubble uint64          // the bubble being watched; 0 between cases
	gen    uint64          // counts enter calls, so a new case restarts the count
	about  func() []string // lines that say which run or case stalled and how to replay it

	stop chan struct{} // closed by close
	done chan struct{} // closed when the watching goroutine has ended
}

// startWatchdog starts watching for test name with the given bound; a
// bound <= 0 returns nil, a watchdog that does nothing. Call it outside
// any bubble (its goroutine must not belong to one).
func startWatchdog(name string, bound time.Duration) *watchdog {
	if bound <= 0 {
		return nil
	}
	w := &watchdog{name: name, bound: bound, stop: make(chan struct{}), done: make(chan struct{})}
	go w.watch()
	return w
}

// enter, called from inside a bubble, starts watching that bubble; about
// describes what runs in it.
func (w *watchdog) enter(about func() []string) {
	if w == nil {
		return
	}
	bubble, _ := currentBubble()
	w.mu.Lock()
	w.bubble, w.about = bubble, about
	w.gen++
	w.mu.Unlock()
}

// leave stops watching the current bubble (its case is over).
func (w *watchdog) leave() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.bubble, w.about = 0, nil
	w.mu.Unlock()
}

// close stops the watchdog and waits for its goroutine to end.
func (w *watchdog) close() {
	if w == nil {
		return
	}
	close(w.stop)
	<-w.done
}

func (w *watchdog) watch() {
	defer close(w.done)
	tick := time.NewTicker(max(w.bound/5, time.Millisecond))
	defer tick.Stop()
	var (
		last    string    // the previous sample's fingerprint
		lastGen uint64    // the case it was taken in
		since   time.Time // when last was first seen
	)
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		w.mu.Lock()
		bubble, gen, about := w.bubble, w.gen, w.about
		w.mu.Unlock()
		if bubble == 0 {
			last = ""
			continue
		}
		gs := bubbleGoroutines(bubble)
		fp := fingerprint(gs)
		now := time.Now()
		if gen != lastGen || fp != last || allDurable(gs) {
			last, lastGen, since = fp, gen, now
			continue
		}
		if now.Sub(since) >= w.bound {
			panic(w.report(bubble, now.Sub(since), about, gs))
		}
	}
}

// report is the diagnosis of a stall.
func (w *watchdog) report(bubble uint64, stalled time.Duration, about func() []string, gs []goroutine) string {
	var b strings.Builder
	fmt.Fprintf(&b, "headwind: %s STALLED: no progress in virtual time for %v of real time (-headwind.stall=%v)\n",
		w.name, stalled.Round(time.Millisecond), w.bound)
	fmt.Fprintf(&b, "  %s.\n", stallExplained)
	if about != nil {
		for _, l := range about() {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	fmt.Fprintf(&b, "  goroutines of the bubble (synctest bubble %d), those not durably blocked first:\n", bubble)
	b.WriteString(describeGoroutines(gs))
	return b.String()
}

func fingerprint(gs []goroutine) string {
	var b strings.Builder
	for _, g := range gs {
		fmt.Fprintf(&b, "%d [%s]\n%s\n", g.id, g.state, g.stack)
	}
	return b.String()
}

func allDurable(gs []goroutine) bool {
	for _, g := range gs {
		if !g.durable {
			return false
		}
	}
	return true
}
