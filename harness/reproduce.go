package harness

import (
	"flag"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
)

// A failure is only as useful as its replay. When rapid reports a failing
// case (its final run of the minimal case, or a fuzz input that fails
// under go test), the harness runs that case once more, with the same
// draws, in a fresh bubble, and compares the two runs' traces event by
// event in their canonical order (see faultconn.Trace). The report then
// says "replays identically", or "does not replay: diverged at" the first
// event where the runs part, with its index, its virtual time and both
// versions. The cost is bounded: one more run of one case, and traces of
// at most TraceLimit events each. This is madsim's determinism check
// (run twice with the same seed, stop at the first difference), applied
// to the one case the user is about to debug.

// replaySubtest names the subtest the replay runs in. It passes whatever
// the replayed case does, so its output shows only with go test -v.
const replaySubtest = "headwind-replay"

// reproducible replays the current case, which failed, once more and says
// whether it replays; "" if the case is not one whose report the user
// reads (rapid runs failing cases many times while shrinking).
func (cr *caseRunner) reproducible(opts Options, body func(*T)) string {
	d := cr.draws
	switch {
	case !d.known:
		return "not checked (the harness cannot read the case's draws from this version of rapid)"
	case !d.final || d.bits == nil:
		return ""
	case fuzzing():
		return "not checked while fuzzing (go test without -fuzz runs the saved input and checks that it replays)"
	}
	second, ok := cr.replayCase(opts, body)
	if !ok {
		return "not checked (the replay did not run: -run or -failfast excluded its subtest " + replaySubtest + ")"
	}
	return compareRuns(cr.runs[0], second)
}

// replayCase runs the current case again, from its draws, in a subtest
// and a fresh bubble, under the same watchdog. The replay's failures are
// recorded, not reported: its subtest passes, so that rapid's report of
// the case stays the only one. ok is false if it did not run.
func (cr *caseRunner) replayCase(opts Options, body func(*T)) (res caseResult, ok bool) {
	cr.inReplay = true
	defer func() { cr.inReplay = false }()
	cr.t.Run(replaySubtest, func(t *testing.T) {
		rapid.MakeFuzz(func(rt *rapid.T) {
			// The replay fails as the case did (or not): how is in
			// cr.runs[1]. A body that fails rapid's T itself (t.T.Fatal)
			// still fails the subtest.
			defer func() { _ = recover() }()
			rapid.SyncTest(rt, func(rt *rapid.T) { runCase(rt, opts, body) })
		})(t, cr.draws.input())
	})
	return cr.runs[1], cr.runs[1].done
}

// compareRuns says whether the replay b of the failing run a replayed it:
// the same trace, event for event, and the same failure.
func compareRuns(a, b caseResult) string {
	n := max(len(a.events), len(b.events))
	for i := range n {
		var ea, eb *faultconn.Event
		if i < len(a.events) {
			ea = &a.events[i]
		}
		if i < len(b.events) {
			eb = &b.events[i]
		}
		if ea != nil && eb != nil && *ea == *eb {
			continue
		}
		at := ea
		if at == nil || (eb != nil && eb.Time < at.Time) {
			at = eb
		}
		return fmt.Sprintf("does not replay: diverged at event #%d of the trace (virtual time %v)%s:\n"+
			"      the failing run: %s\n      the replay:      %s",
			a.overflow+uint64(i)+1, at.Time, discarded(a, b), describeEvent(ea, len(a.events)), describeEvent(eb, len(b.events)))
	}
	switch {
	case a.overflow != b.overflow:
		return fmt.Sprintf("does not replay: diverged before the %d events the traces kept%s", len(a.events), discarded(a, b))
	case !b.failed:
		return fmt.Sprintf("does not replay: the replay passed (its %d trace events are the same)", len(b.events))
	case a.msg != "" && b.msg != "" && a.msg != b.msg:
		return fmt.Sprintf("does not replay: the replay failed with another message (its %d trace events are the same): %s",
			len(b.events), b.msg)
	}
	return fmt.Sprintf("replays identically (the harness ran the case once more: the same %d trace events, and it failed again)", len(a.events))
}

// discarded notes that the traces discarded different numbers of old
// events, which makes their indices incomparable.
func discarded(a, b caseResult) string {
	if a.overflow == b.overflow {
		return ""
	}
	return fmt.Sprintf(" (the failing run's trace discarded %d older events, the replay's %d)", a.overflow, b.overflow)
}

func describeEvent(e *faultconn.Event, kept int) string {
	if e == nil {
		return fmt.Sprintf("nothing (its trace ends after %d events)", kept)
	}
	return e.String()
}

// fuzzing reports whether go test is fuzzing (-test.fuzz).
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// stallReplay is the command that replays a case of test name that
// stalled: the stall ends the test binary before rapid reports anything,
// so it is built from the case's own draws where the harness has them.
func (cr *caseRunner) stallReplay(name string) string {
	cmd := func(args string) string {
		return fmt.Sprintf("%sgo test %s -run '%s' %s", twinPrefix(), packageDir(), runPattern(name), args)
	}
	d := cr.draws
	switch {
	case cr.fuzz:
		return cr.replay(name)
	case d.seeded && !cr.inReplay:
		return cmd(fmt.Sprintf("-rapid.seed=%d (rapid runs this case first)", d.seed))
	case rapidFailfile(name) != "":
		return cr.replay(name) // the failfile of the case rapid is replaying or reporting
	case cr.lastSeeded:
		return cmd(fmt.Sprintf("-rapid.seed=%d (rapid runs the failing case it found first, then shrinks it to this one)", cr.lastSeed))
	}
	return "rapid prints a case's seed only for failures it sees end; " +
		"go test -v -rapid.v logs each case's seed as it starts, the last one before this report is this case's"
}
