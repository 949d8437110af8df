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
// network when it failed, whether the case replays, and the last trace
// events of each link.
//
// Is it reproducible? The harness runs the case rapid reports once more,
// with the same draws, in a fresh bubble (a subtest named headwind-replay
// that passes whatever the replay does), and compares the two traces
// event by event in their canonical order, as madsim's determinism check
// compares two runs of one seed. The report's "reproducible:" line says
// "replays identically" (the same events, and a failure again), or "does
// not replay: diverged at event #N of the trace (virtual time T)" with the
// failing run's and the replay's versions of that event; or that the
// trace was the same but the replay passed or failed otherwise. The cost
// is one more run of one case, its trace bounded by TraceLimit. A Fuzz
// input that fails under go test is checked the same way; while fuzzing
// (-fuzz) it is not. Run does not replay (its body fails a *testing.T,
// which a second run could not keep from failing the test again). The
// replay reads the case's draws from rapid's T by reflection, as rapid
// offers no way to run a case again; should a rapid upgrade hide them,
// the line says the replay was not checked.
//
// Replay it. rapid's line "To reproduce, specify -run=… -rapid.seed=…"
// (or -rapid.failfile=…) runs the same case again, bit for bit: the same
// faults, the same schedule, the same fates of every segment. Tests written
// with Run (or RunWith) print their network seed first with the command
// that replays them, package path included, to run from the module root;
// HEADWIND_FAULTS='latency=50ms loss=1%' go test ./... puts an existing
// suite under faults without changing a line (the environment, because
// the flags exist only in packages that import harness).
//
// # Flags
//
// -headwind.seed (HEADWIND_SEED) fixes the seed of Run's network;
// -headwind.faults (HEADWIND_FAULTS), a faultconn.ParseProfile spec, is
// the default profile of Run's network; -headwind.trace=DIR
// (HEADWIND_TRACE) writes the full trace of a failing Run or Check case
// there, as text and JSON lines, with its timeline page (see below);
// -headwind.stall (HEADWIND_STALL) is the
// stall watchdog's bound (default DefaultStall, 0 turns it off).
//
// # Timeline
//
// Every failing Run, Check or Fuzz case gets a timeline page: one
// self-contained HTML file with the hosts as lanes, every segment as an
// arrow from its sending to its arrival marked with its fate (lost,
// retransmitted, duplicated, reordered, corrupted, reset, held), the
// nemesis steps shaded, and, when the property called T.Record with its
// History, each operation as a bar per client, the ones a
// linearizability check could not place highlighted; details on hover,
// time in virtual seconds. It is written into the test's artifact
// directory when go test runs with -artifacts (without it,
// testing.T.ArtifactDir is a temporary directory, so nothing is written
// there) and into the -headwind.trace directory, named after the trace
// files with .timeline.html; the failure report prints "timeline page:"
// and the paths. A page draws at most 4,000 arrows, collapsing runs of
// segments of one connection direction beyond that, and says what it
// collapsed: a full trace of TraceLimit events makes a page of about 1 MB.
//
// # Hangs
//
// Inside a bubble the virtual clock only advances when every goroutine
// in it is durably blocked. A goroutine waiting on a sync.Mutex (held, say,
// by one that dials under the lock), in a system call, on a real socket or
// on a channel made outside the bubble is not, and stops the clock: the
// test would hang silently until go test's timeout. Run, Check and Fuzz
// run a stall watchdog instead. It cannot read the virtual clock from
// outside the bubble (time.Now there is real time), and a goroutine that
// woke up inside to report it would keep virtual time moving forever, so
// it samples the bubble's goroutines as runtime.Stack shows them (the
// header of each names its synctest bubble and marks durable waits): when
// some goroutine is not durably blocked and none has changed state or
// stack for the bound (RunOptions.Stall, Options.Stall, -headwind.stall),
// the test fails with every goroutine of the bubble, its stack and wait
// reason, the ones not durably blocked first and flagged, and a command
// that replays the run or case (for a Check case rapid draws at random,
// -rapid.seed=N, which makes it rapid's first case). A bubble cannot
// be ended from outside (waking its goroutines from outside is a fatal
// error), so the watchdog panics with the diagnosis, as go test -timeout
// does, and the test binary exits.
//
// Goroutines still blocked when the body returns (after the network is
// closed, which wakes everything that waits on it) would make synctest
// panic with "main bubble goroutine has exited but blocked goroutines
// remain" and hide the test's own failure; the harness lists them with
// their stacks instead and keeps the test's failure as the headline.
// Options.WindDown and RunOptions.WindDown give the system virtual time to
// wind down before the network closes.
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
// links' keys and what is written on them, and a host's connections
// dialed at the same instant by goroutines in parallel are keyed by what
// they first write, not by which goroutine dialed first (see netsim's
// Determinism). Events at the very same
// virtual instant run in an order the Go scheduler picks; the engine makes
// its own ties deterministic (at the instant a deadline passes, the
// deadline wins over an arrival due then, as with the net package's
// sockets, whichever goroutine runs first; partitions apply after their
// instant), and nemesis steps fall at Offset past whole milliseconds to
// stay off the system's round-number timers. A property that still
// replays differently has a source of nondeterminism of its own (global
// random numbers, map order, real time, a race at one instant);
// CheckDeterminism runs generated cases twice with the same draws and
// points at the first event where they part, and every failure report
// says whether its own case replays (see The workflow).
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
// range, from the function that takes them. A stalled bubble panics with
// its diagnosis (see Hangs).
package harness
