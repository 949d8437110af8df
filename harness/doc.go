// Package harness runs go test suites against a bad network and searches
// for the faults that break them: it gives each test a seeded netsim
// network on a virtual clock (Run), checks properties over generated
// fault profiles and nemesis schedules with rapid, shrinking a failure to
// the smallest faults that still fail (Check), and offers the checks that
// matter under pressure: exactly-once effects (Ledger), memory and
// goroutines that stay bounded as load grows (CheckBounded), and
// linearizable histories (History and CheckLinearizable for a key-value
// store; Log, Model and CheckModel for any system, with QueueModel and
// SetModel provided).
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
// nemesis schedule (partitions, isolations, degraded links, resets of
// live connections and reject-mode partitions over 10s, then a heal; see
// Nemesis) are drawn by rapid, from the fault families
// the case's swarm enabled (see Swarm).
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
// # Services that crash and restart
//
// A property registers how each host's service starts, and the harness
// can then crash it and start it again with its memory gone:
//
//	t.Service("db", harness.Service{
//		Start: func(ctx context.Context, h *netsim.Host, s *harness.Store) error {
//			srv := newServer(s) // fresh memory; durable state read from s
//			ln, err := h.Listen("tcp", ":80")
//			if err != nil {
//				return err
//			}
//			go srv.Serve(ln)
//			<-ctx.Done()
//			return srv.Close() // return once every goroutine has
//		},
//	})
//	go func() { // at drawn instants
//		time.Sleep(crashAt)
//		t.Crash("db")
//		time.Sleep(downtime)
//		t.Restart("db")
//	}()
//
// T.Service starts the service at once, Start in a goroutine of its own.
// T.Crash powers the host off in the network (see netsim.Network.Crash:
// nothing more leaves it, its sockets vanish), crashes its Store, then
// cancels the service's context and waits for Start to return. Because
// the network and the store go first, nothing the service does on its
// way out (a goodbye message, a last Sync) has any effect, as with a
// real crash. A Start that has not returned within Service.StopTimeout of
// virtual time (DefaultStopTimeout, 5s) fails the case with an error
// naming the host, and the host is not restarted: its goroutines could
// otherwise write into the next incarnation. T.Restart boots a new
// incarnation of the host and calls Start again, with a new context and
// the Store reopened; a host that is already up (restarted by the final
// heal or a nemesis step first) is left as it is. At the end of the case, after Options.WindDown and
// before the network closes, the harness cancels every service and waits
// for each within its StopTimeout, the same way. An error Start returns
// before its context is done, or a panic in it, fails the case. T.Crash,
// T.Restart, T.Pause and T.Resume log what they did in the case's report
// ("nemesis did: at 1.2s crash db (store: 3 unsynced records, 1 kept,
// loss 0.5); at 2s restart db (boot 2, store: 7 records)").
//
// A Store is an append-only log of records with an explicit Sync, like a
// write-ahead log with fsync. At a crash, what was synced survives; of
// the records appended since the last Sync, the newest ⌈Loss·n⌉ are
// lost: none (a process crash), all (a power cut before write-back) or a
// fraction between, a third of the time each, drawn from the case's
// network seed, the host and the crash's number, so a case replays it.
// T.CrashLosing takes the Loss instead, for a nemesis step that draws it
// with rapid. A Store from before a crash fails every call with
// ErrCrashed. T.Store returns a host's current store, for the property to
// read the durable state (after a last crash, say).
//
// # Nemesis
//
// A case's schedule is up to Options.MaxSteps (6) steps at instants drawn
// in whole milliseconds (plus 777ns) over Options.Duration (10s), and a
// final heal at Duration plus 777ns that ends partitions and isolations,
// resumes paused hosts and restarts crashed ones with T.Restart; Healed
// is closed then. Each step is a Step, drawn by one of the Faults of
// Options.Nemesis. The built-ins (Builtins, one short file each,
// nemesis_*.go) are partition, isolate, degrade, reset, heal, crash,
// restart, pause, resume and mode (partitions drop or reject dials).
// DefaultNemesis, drawn when Options.Nemesis is empty, is all but crash
// and restart: a crashed host's service comes back only if the property
// registered it with T.Service, and a property that checks liveness
// after the heal would fail for that alone (see
// DefaultNemesis). Steps name hosts by index into the network's
// hosts sorted by name, modulo their number, so a schedule means the
// same on every replay; the report names them.
//
// A step of your own is a type with two methods: Apply, which does it
// (with t.Net, t.Crash, t.Restart) and returns what it did with host
// names, and String, which describes it exactly with indices (the exact
// line prints it). A Describe(hosts []string) string method, if it has
// one, describes it with host names in the report's schedule line.
// Draw it with a Fault of your own, listed with the built-ins:
//
//	restartLeader := harness.Fault{Name: "restart-leader", Draw: func(rt *rapid.T, _ harness.Options) harness.Step {
//		return restartLeaderStep{cluster: cluster} // Apply: t.Crash(leader), then t.Restart(leader)
//	}}
//	harness.CheckWith(t, harness.Options{Nemesis: append(harness.DefaultNemesis(), restartLeader)}, property)
//
// Apply runs on the nemesis's goroutine while the body runs: synchronise
// with the system as the body does, and do not block (the next step
// waits). A step that needs the case's system (its current leader) can
// reach it through a variable the body sets and the Fault's Draw closes
// over: a Check runs its cases one after another.
//
// Saved cases keep their meaning as the faults grow. Which fault a step
// comes from is drawn as a slot in [0, MaxFaults): the built-ins hold
// fixed slots from 0 up, in the order of Builtins, never renumbered (a
// new built-in takes the next free slot), and the faults of your own
// take slots from MaxFaults-1 down, in the order Options.Nemesis lists
// them. A slot no listed fault holds is rejected, and rapid's shrinker
// removes rejected draws from the case it reports. So a failfile rapid
// wrote (and the fuzz input AddFailfiles makes of it) draws the same
// schedule after a headwind upgrade adds a built-in, after you list more
// built-ins, and after you add faults of your own at the end of the
// list: the same steps at the same instants (the swarm's set may then
// name the new faults too). It does not hold if you reorder or remove
// faults of your own, if a fault's Draw changes what it draws, if what
// the swarm draws changes (Options.NoSwarm, the families Options.Faults
// has), or for draws that were never shrunk: an input go test -fuzz
// saved, or the case of a -rapid.seed, may hold a rejected draw that a
// new fault's slot accepts, and from there decodes into another case
// (re-fuzz such a corpus after an upgrade). More than MaxFaults faults,
// or faults of your own reaching down to a listed built-in's slot, are
// an error naming Options.Nemesis.
//
// # Swarm
//
// Swarm testing (Groce et al., "Swarm Testing", ISSTA 2012): each case
// first draws which fault families are enabled at all, each with
// probability one half, and draws its faults from those only: the
// profile's latency (with jitter), loss (with bursts), duplicate,
// reorder, corrupt, segment, reset and bandwidth, as far as
// Options.Faults has them, and each fault of Options.Nemesis. Many cases
// each with a few faults find more distinct bugs than every case with
// all of them, where one fault masks another. The report's swarm line
// and the exact line's "swarm" say what the case enabled; rapid shrinks
// it like the rest, so a minimal case tends to enable only what its
// failure needs. Degrade steps draw their profiles from the enabled
// families too. With latency off, drawn latencies are 1009ns, not zero,
// to stay off the round instants of the system's timers. Options.NoSwarm
// turns it off: every family is enabled in every case.
//
// # Flags
//
// -headwind.seed (HEADWIND_SEED) fixes the seed of Run's network;
// -headwind.faults (HEADWIND_FAULTS), a faultconn.ParseProfile spec, is
// the default profile of Run's network; -headwind.trace=DIR
// (HEADWIND_TRACE) writes the full trace of a failing Run or Check case
// there, as text and JSON lines, with its timeline page (see below);
// -headwind.swarm=off (HEADWIND_SWARM=off) turns swarm testing off for
// every Check of the run; -headwind.stall (HEADWIND_STALL) is the
// stall watchdog's bound (default DefaultStall, 0 turns it off).
//
// Campaigns split one Check search over many runners:
// -headwind.shard=i/n (HEADWIND_SHARD) runs the cases k with k mod n = i
// of the campaign -headwind.campaign (HEADWIND_CAMPAIGN, a seed every
// shard shares), -headwind.cases (HEADWIND_CASES) bounds the campaign and
// -headwind.budget (HEADWIND_BUDGET) the real time a shard spends. Case k
// has its own rapid seed, a function of the campaign seed and k, and runs
// as the subtest "case=k"; Fuzz's seed inputs become the shard's cases.
//
// # Timeline
//
// Every failing Run, Check or Fuzz case gets a timeline page: one
// self-contained HTML file with the hosts as lanes, every segment as an
// arrow from its sending to its arrival marked with its fate (lost,
// retransmitted, duplicated, reordered, corrupted, reset, held), the
// nemesis steps shaded, and, when the property called T.Record with its
// History or the Verdict CheckModel returned (any Model), each operation
// as a bar per client, the ones the check could not place highlighted
// (as the check found them: see Recording); details on hover,
// time in virtual seconds. It is written into the test's artifact
// directory when go test runs with -artifacts (without it,
// testing.T.ArtifactDir is a temporary directory, so nothing is written
// there) and into the -headwind.trace directory, named after the trace
// files with .timeline.html; the failure report prints "timeline page:"
// and the paths. A page draws at most 4,000 arrows, collapsing runs of
// segments of one connection direction beyond that, and says what it
// collapsed: a full trace of TraceLimit events makes a page of about 1 MB.
// Beside it goes NAME.failure.json, the failure for programs, in the
// versioned schema of Failure (FailureSchema); the report prints
// "failure report:" and its paths.
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
// instant), and nemesis steps fall 777ns past whole milliseconds to
// stay off the system's round-number timers. A property that still
// replays differently has a source of nondeterminism of its own (global
// random numbers, map order, real time, a race at one instant);
// CheckDeterminism runs generated cases twice with the same draws and
// points at the first event where they part, and every failure report
// says whether its own case replays (see The workflow).
//
// # Limits
//
// A network's trace keeps the newest TraceLimit events. A host's Store
// holds at most Service.MaxRecords records (DefaultMaxRecords, 16384; at
// most MaxStoreRecords) of at most Service.MaxBytes bytes in all
// (DefaultMaxBytes, 4 MiB; at most MaxStoreBytes); an Append beyond is
// refused with an error naming the limit. A service has
// Service.StopTimeout of virtual time to stop. Check runs at most
// Options.MaxSteps nemesis steps per case, over at most MaxDuration (a
// day) of virtual time, drawn from at most MaxFaults (16) faults. CheckBounded forces a garbage
// collection at every sample, so sample coarsely; memory and goroutines
// are process-wide, so memory checks must not run in parallel with other
// tests. A History keeps at most its Limit of operations.
//
// # Errors
//
// One convention, as in testing/fstest: a checker takes a *testing.T
// only where it needs one to open synctest bubbles, and then fails that
// test (Run, RunWith, Check, CheckWith, CheckDeterminism, CheckBounded,
// Fuzz); every checker of what was recorded takes no test and returns
// one error listing every problem (Ledger.Check, CheckLinearizable,
// CheckModel, whose Verdict says which keys failed, MeasureBounded). The
// names follow the design's (Check runs a property, Ledger.Check
// returns an error), so the signature, a *testing.T or none, is what
// says which. Invalid flags fail the test with an error
// naming the flag and the value. Options, Bound fields and Ledger.Limit
// out of their ranges are errors naming the field, the value and the
// range, from the function that takes them; so is an invalid Service,
// from T.Service. A service that does not stop in time, returns an error
// before it is stopped or panics fails the case, naming its host. A stalled bubble panics with
// its diagnosis (see Hangs).
package harness
