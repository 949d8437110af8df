// Package harness runs go test suites against a bad network and searches
// for the faults that break them: it gives each test a seeded netsim
// network on a virtual clock (Run), checks properties over generated
// fault profiles and nemesis schedules with rapid, shrinking a failure to
// the smallest faults that still fail (Check), and offers the checks that
// matter under pressure: exactly-once effects (Ledger), memory and
// goroutines that stay bounded as load grows (CheckBounded), and
// linearizable histories (History, CheckLinearizable).
//
// # The workflow
//
// Write a property. The body gets a T with the case's network; it starts
// the system on the network's hosts, drives it, and fails if an invariant
// breaks:
//
//	func TestPaymentsExactlyOnce(t *testing.T) {
//		harness.Check(t, func(t *harness.T) {
//			var ledger harness.Ledger
//			ln, _ := t.Net.Host("server").Listen("tcp", ":80")
//			go serve(ln, &ledger) // calls ledger.Apply(key) when it charges
//			for i := range 5 {
//				key := fmt.Sprint(i)
//				ledger.Issue(key)
//				if pay(t.Net.Host("client"), key) == nil { // retries, backs off, gives up
//					ledger.Ack(key)
//				}
//			}
//			if err := ledger.Check(); err != nil {
//				t.Fatal(err) // e.g. key "3" applied 2 times
//			}
//		})
//	}
//
// Run it with go test. Each of rapid's cases (100 by default,
// -rapid.checks) runs in its own synctest bubble with a fresh network whose
// seed, default profile (within DefaultFaults, or Options.Faults) and
// nemesis schedule (partitions, isolations, degraded links and resets of
// live connections over 10s, then a heal) are drawn by rapid.
//
// Read the failure. rapid shrinks the failing case (fewer nemesis steps,
// smaller faults) and prints the minimal one: the drawn faults, the
// schedule and what the nemesis did to which hosts, the state of the
// network when it failed, and the last trace events of each link.
//
// Replay it. rapid's line "To reproduce, specify -run=… -rapid.seed=…"
// (or -rapid.failfile=…) runs the same case again, bit for bit: the same
// faults, the same schedule, the same fates of every segment. Tests written
// with Run print their network seed first, and replay with
// -headwind.seed=N; -headwind.faults='latency=50ms loss=1%' puts an
// existing suite under faults without changing a line.
//
// # Flags
//
// -headwind.seed (HEADWIND_SEED) fixes the seed of Run's network;
// -headwind.faults (HEADWIND_FAULTS), a faultconn.ParseProfile spec, is
// the default profile of Run's network; -headwind.trace=DIR
// (HEADWIND_TRACE) writes the full trace of a failing Run or Check case
// there, as text and JSON lines.
//
// # Time
//
// Everything runs inside testing/synctest bubbles on virtual time: a
// property that waits for a 1s timeout takes no real second, and instants
// are exact. Bubble rules apply: create goroutines, channels and timers
// inside the body; do not block on real sockets or on mutexes held across
// waits. The harness closes the network when the body returns, which
// unblocks every goroutine waiting on it, so the bubble can end.
//
// # Determinism
//
// A case replays identically when the system under test is deterministic
// given its inputs: the network's fates depend only on the seed, the
// links' names and what is written on them. Events at the very same
// virtual instant run in an order the Go scheduler picks; the engine makes
// its own ties deterministic (at the instant a deadline passes, the
// deadline wins over an arrival due then, as with the net package's
// sockets, whichever goroutine runs first; partitions apply after their
// instant), and nemesis steps fall at Offset past whole milliseconds to
// stay off the system's round-number timers. A property that still
// replays differently has a source of nondeterminism of its own (global
// random numbers, map order, real time, a race at one instant);
// CheckDeterminism runs generated cases twice with the same draws and
// points at the first event where they part.
//
// # Limits
//
// A network's trace keeps the newest TraceLimit events. Check runs at most
// Options.MaxSteps nemesis steps per case, over at most MaxDuration (a
// day) of virtual time. CheckBounded forces a garbage
// collection at every sample, so sample coarsely; memory and goroutines
// are process-wide, so memory checks must not run in parallel with other
// tests. A History keeps at most its Limit of operations.
//
// # Errors
//
// Checkers return one error listing every problem (Ledger.Check,
// CheckLinearizable, MeasureBounded) or fail the test they are given
// (Run, Check, CheckBounded). Invalid flags fail the test with an error
// naming the flag and the value. Options, Bound fields and Ledger.Limit
// out of their ranges are errors naming the field, the value and the
// range, from the function that takes them.
package harness
