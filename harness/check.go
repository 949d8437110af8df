package harness

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// T is what a Check property gets: rapid's T (draw more values from it, fail
// with it) plus the case's network, its seed, its trace and the faults the
// case drew. Fail through T (Fatalf, Errorf, or a panic): rapid then shrinks
// the case and prints how to replay it.
type T struct {
	*rapid.T
	// Net is the case's network, closed when the property returns.
	Net *netsim.Network
	// Seed is the network's seed.
	Seed uint64
	// Trace records every segment of the case.
	Trace *faultconn.Trace
	// Faults is the default profile drawn for the case.
	Faults faultconn.Profile
	// Schedule is the nemesis schedule drawn for the case.
	Schedule Schedule

	swarm swarm // the fault families the case enabled

	opts    Options
	life    hostLife // the services of the case's hosts (hostlife.go)
	healed  chan struct{}
	nemDone chan struct{}
	// replay is set when the case is the harness's replay of a failing
	// case: failures are recorded here and not given to rapid.
	replay bool

	mu        sync.Mutex            // guards log, stepHosts, firstErr, failed, rec, blamed and spans
	log       []string              // what the nemesis did
	stepHosts [][]string            // the hosts each schedule step ran with
	rec       Recording             // what Record registered, for the timeline page
	blamed    *LinearizabilityError // the first one the case failed with, for rec's bars
	spans     []span                // hosts' crashes and pauses, for the timeline page
	// firstErr is the first message given to Error, Errorf, Fatal or
	// Fatalf: FailNow fails with it, so that with testify's require
	// (Errorf, then FailNow) the violation, not "(*T).FailNow() called",
	// is rapid's headline; and a replay is compared with it.
	firstErr string
	failed   bool // a failing method was called
}

// Errorf logs the message and marks the case failed, like rapid's.
func (t *T) Errorf(format string, args ...any) {
	t.T.Helper()
	t.noteBlamed(args)
	if t.noteErr(fmt.Sprintf(format, args...)) {
		return
	}
	t.T.Errorf(format, args...)
}

// Error logs the arguments and marks the case failed, like rapid's.
func (t *T) Error(args ...any) {
	t.T.Helper()
	t.noteBlamed(args)
	if t.noteErr(fmt.Sprint(args...)) {
		return
	}
	t.T.Error(args...)
}

// Fatalf logs the message and stops the case as failed, like rapid's.
func (t *T) Fatalf(format string, args ...any) {
	t.T.Helper()
	t.noteBlamed(args)
	if t.noteErr(fmt.Sprintf(format, args...)) {
		panic(replayStop{})
	}
	t.T.Fatalf(format, args...)
}

// Fatal logs the arguments and stops the case as failed, like rapid's.
func (t *T) Fatal(args ...any) {
	t.T.Helper()
	t.noteBlamed(args)
	if t.noteErr(fmt.Sprint(args...)) {
		panic(replayStop{})
	}
	t.T.Fatal(args...)
}

// FailNow stops the case as failed. After Error or Errorf (as testify's
// require does) the case fails with the first error's message, logged
// once more.
func (t *T) FailNow() {
	t.T.Helper()
	t.mu.Lock()
	first := t.firstErr
	t.failed = true
	t.mu.Unlock()
	if t.replay {
		panic(replayStop{})
	}
	if first != "" {
		t.T.Fatal(first)
	}
	t.T.FailNow()
}

// Fail marks the case failed; after Error or Errorf it keeps the first
// error's message as the failure.
func (t *T) Fail() {
	t.mu.Lock()
	first := t.firstErr
	t.failed = true
	t.mu.Unlock()
	if first == "" && !t.replay {
		t.T.Fail()
	}
}

// Failed reports whether the case has failed.
func (t *T) Failed() bool {
	t.mu.Lock()
	failed := t.failed
	t.mu.Unlock()
	return failed || (!t.replay && t.T.Failed())
}

// noteErr records msg as the case's failure if it is the first, and
// reports whether the case is the harness's replay of a failing case,
// whose failures are recorded only (see caseRunner.replayCase).
func (t *T) noteErr(msg string) (replay bool) {
	t.mu.Lock()
	if t.firstErr == "" {
		t.firstErr = msg
	}
	t.failed = true
	t.mu.Unlock()
	return t.replay
}

func (t *T) firstError() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.firstErr
}

// replayStop is the panic that stops the body of a replayed case at its
// Fatal, Fatalf or FailNow, as rapid's own panic does in a case.
type replayStop struct{}

// Options tunes Check. The zero value means the defaults of every field.
type Options struct {
	// Faults bounds the default profile drawn for each case: every
	// duration and probability is drawn between zero and its value here,
	// Bandwidth is unlimited or between Faults.Bandwidth/100 and
	// Faults.Bandwidth, Segment 0 (no cutting) or between a 32nd of its
	// value and its value, and
	// Distribution is any up to its value. The zero value means the
	// profile of -headwind.faults (HEADWIND_FAULTS) if given, else
	// DefaultFaults.
	Faults faultconn.Profile
	// Mode is the networks' mode; the zero value is Stream.
	Mode faultconn.Mode
	// Duration is the virtual time the nemesis schedule spans; at its end
	// the nemesis heals everything. Zero means 10s; at most MaxDuration.
	Duration time.Duration
	// MaxSteps is the most nemesis steps per case; zero means 6, and a
	// negative value turns the nemesis off.
	MaxSteps int
	// Nemesis lists the faults the schedule's steps are drawn from, the
	// built-ins (Builtins) and faults of your own, at most MaxFaults;
	// empty means DefaultNemesis(). Keep your own faults in the same
	// order, adding new ones at the end, and saved cases keep their
	// meaning (see the package documentation's Nemesis section).
	Nemesis []Fault
	// NoSwarm turns swarm testing off: every case may then draw every
	// fault family of the profile and every fault of Nemesis. By default
	// each case first draws which of them are enabled at all, each with
	// probability one half (see the package documentation's Swarm
	// section). -headwind.swarm=off (HEADWIND_SWARM=off) turns it off
	// for every Check of a run.
	NoSwarm bool
	// WindDown is virtual time the system gets, after the property
	// returns, to finish what it was doing (goroutines that end on their
	// own timers) before the network closes. Zero closes it at once.
	// Goroutines still blocked after the network closed fail the case,
	// listed with their stacks.
	WindDown time.Duration
	// Stall is how much real time a case's bubble may go without progress
	// in virtual time before the test fails with the bubble's goroutines
	// and which of them are not durably blocked. Zero means
	// -headwind.stall (HEADWIND_STALL), else DefaultStall; negative turns
	// the watchdog off.
	Stall time.Duration

	run   *caseRunner      // per Check call: the watchdog and how the last case ended
	slots [MaxFaults]Fault // Nemesis in its slots; a free slot has no Name
	// offsetLatency is set when the case's swarm turned latency off:
	// drawn profiles then have latencyOffset as their latency.
	offsetLatency bool
}

// DefaultFaults bounds the faults Check draws when Options.Faults is zero:
// up to 100ms latency and 20ms jitter, 5% loss, duplication and reordering,
// 1% corruption, segments of up to 1460 bytes.
var DefaultFaults = faultconn.Profile{
	Latency:      100 * time.Millisecond,
	Jitter:       20 * time.Millisecond,
	Distribution: faultconn.ParetoNormal,
	Loss:         0.05,
	Duplicate:    0.05,
	Reorder:      0.05,
	Corrupt:      0.01,
	Segment:      1460,
}

// MaxDuration is the longest Options.Duration: a day of virtual time,
// far more than a nemesis schedule of a few steps needs, and small enough
// that the instants the nemesis computes from it never overflow.
const MaxDuration = 24 * time.Hour

// maxFaultsLatency is the largest Options.Faults.Latency: a drawn latency
// gets latencyOffset on top of its bound and must stay within
// faultconn.MaxLatency.
const maxFaultsLatency = faultconn.MaxLatency - time.Millisecond

func (o Options) withDefaults() (Options, error) {
	switch v := setting(swarmFlag, "HEADWIND_SWARM"); v {
	case "", "on":
	case "off":
		o.NoSwarm = true
	default:
		return o, fmt.Errorf("harness: -headwind.swarm %q: want on or off", v)
	}
	if o.Faults == (faultconn.Profile{}) {
		p, spec, err := faults()
		if err != nil {
			return o, err
		}
		o.Faults = DefaultFaults
		if spec != "" {
			o.Faults = p
		}
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.MaxSteps == 0 {
		o.MaxSteps = 6
	}
	if len(o.Nemesis) == 0 {
		o.Nemesis = DefaultNemesis()
	}
	var errs []error
	slots, err := nemesisSlots(o.Nemesis)
	if err != nil {
		errs = append(errs, err)
	}
	o.slots = slots
	if err := o.Faults.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Duration < 0 || o.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("harness: Options.Duration %v out of range [0,%v] (0 means 10s)", o.Duration, MaxDuration))
	}
	if o.Faults.Latency > maxFaultsLatency {
		errs = append(errs, fmt.Errorf("harness: Options.Faults.Latency %v out of range [0,%v] (drawn latencies get a small offset above their bound)",
			o.Faults.Latency, maxFaultsLatency))
	}
	if o.Mode != faultconn.Stream && o.Mode != faultconn.Segments {
		errs = append(errs, fmt.Errorf("harness: Options.Mode %d out of range [0,1] (Stream, Segments)", int(o.Mode)))
	}
	return o, errors.Join(errs...)
}

// Check checks a property over generated bad networks: it runs body as a
// rapid property, each case in its own testing/synctest bubble with its
// own netsim.Network, whose seed, fault families (swarm testing), default
// profile (within the profile of -headwind.faults if given, else
// DefaultFaults) and nemesis schedule (steps of DefaultNemesis over 10s
// of virtual time) are drawn by rapid, so a failing case shrinks to the
// smallest faults and the shortest schedule that still fail. The failure output gives rapid's
// replay command (-rapid.seed or a failfile), the decoded faults and
// schedule in readable form, and whether the case replays: the harness
// runs it once more and compares the traces (see the package
// documentation).
func Check(t *testing.T, body func(t *T)) {
	t.Helper()
	CheckWith(t, Options{}, body)
}

// CheckWith is Check with options.
func CheckWith(t *testing.T, opts Options, body func(t *T)) {
	t.Helper()
	opts, err := opts.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	c, err := campaignSettings()
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T) {
		cr, err := newCaseRunner(t, opts.Stall)
		if err != nil {
			t.Fatal(err)
		}
		defer cr.close()
		opts := opts
		opts.run = cr
		rapid.Check(t, func(rt *rapid.T) { cr.syncTest(rt, opts, body) })
	}
	if c.active {
		runCampaign(t, c, check)
		return
	}
	check(t)
}

// runCase draws one case and runs body on it. It runs inside the bubble.
func runCase(rt *rapid.T, opts Options, body func(t *T)) {
	runCaseThen(rt, opts, body, nil)
}

// runCaseThen is runCase, calling after (if not nil) once the body has
// returned or failed, before the network is closed.
func runCaseThen(rt *rapid.T, opts Options, body func(t *T), after func(*T)) {
	ht := drawCase(rt, opts)
	ht.replay = opts.run.replaying()
	tr := faultconn.NewTrace(TraceLimit)
	n, err := netsim.New(netsim.Config{Seed: ht.Seed, Default: ht.Faults, Mode: opts.Mode, Trace: tr})
	if err != nil {
		rt.Fatalf("harness: %v", err)
	}
	ht.Net, ht.Trace = n, tr
	ht.life.began = time.Now()
	opts.run.enter(ht)
	go ht.nemesis()
	defer func() {
		r := recover()
		if after != nil {
			after(ht)
		}
		time.Sleep(opts.WindDown)
		ht.stopServices()
		failed := r != nil || ht.Failed()
		var dump string
		if failed {
			dump = strings.TrimSpace(n.Dump())
		}
		n.Close()
		<-ht.nemDone
		left := leftoverGoroutines()
		res := caseResult{events: tr.Events(), overflow: tr.Overflow(), failed: failed || len(left) > 0, msg: ht.firstError()}
		if ht.replay {
			// The replay of a failing case reports nothing itself: the
			// first run's report says whether it replayed.
			opts.run.leave()
			opts.run.record(res)
			if r != nil {
				panic(r)
			}
			return
		}
		// Logged at the end, when every step that ran has its hosts (a
		// step that did not run resolves against the hosts now); rapid
		// shows them for the failing case only.
		hostsOf, exact := ht.stepHostsOf(), caseJSON(ht)
		schedule := ht.Schedule.describe(hostsOf)
		rt.Logf("headwind: case faults: %s", humanProfile(ht.Faults, true))
		rt.Logf("headwind: case swarm: %s", ht.swarm)
		rt.Logf("headwind: case schedule: %s", schedule)
		rt.Logf("headwind: case exact: %s", exact)
		if len(left) > 0 {
			rt.Error(leftoverReport("property", left))
			opts.run.ended(r, failed, leftoverSummary("property", left))
		}
		opts.run.leave()
		if failed {
			nemesis := ht.nemesisLog()
			rec, blamed := ht.recorded()
			view := &caseView{name: rt.Name(), violation: ht.firstError(), intervals: append(scheduleIntervals(ht.Schedule, hostsOf), ht.spanIntervals()...),
				rec: rec, blamed: blamed, start: tr.Start(), exact: exact, did: ht.nemesisSteps()}
			if opts.run != nil {
				view.t = opts.run.t
			}
			res.report = func(reproducible string) string {
				extra := []string{"replay: " + opts.run.replay(rt.Name())}
				if reproducible != "" {
					extra = append(extra, "reproducible: "+reproducible)
				}
				return failureReport(
					fmt.Sprintf("headwind: FAILED case (network seed %d, one of the case's draws: replay the case, not the seed)", ht.Seed),
					rt.Name()+"-check", humanProfile(ht.Faults, true), n, tr, append(extra,
						"swarm: "+ht.swarm.String(),
						"schedule: "+schedule,
						"nemesis did: "+nemesis,
						"network when it failed:\n    "+strings.ReplaceAll(dump, "\n", "\n    "),
					), view)
			}
		}
		if opts.run != nil {
			opts.run.record(res) // the case runner logs the report, after the replay
		} else if res.report != nil {
			rt.Log(res.report(""))
		}
		if r != nil {
			panic(r)
		}
	}()
	body(ht)
}

func drawCase(rt *rapid.T, opts Options) *T {
	ht := &T{T: rt, opts: opts, healed: make(chan struct{}), nemDone: make(chan struct{})}
	ht.Seed = rapid.Uint64().Draw(rt, "seed")
	opts, enabled, sw := drawSwarm(rt, opts)
	ht.swarm = sw
	ht.Faults = drawLinkProfile(rt, opts)
	ht.Schedule = drawSchedule(rt, opts, enabled)
	return ht
}

// DrawProfile draws a profile within bound, shrinking towards the perfect
// link: every duration (in thousandths of its bound; Latency plus 1009ns)
// and probability between zero and its value in bound, Bandwidth unlimited or between bound.Bandwidth/100 and
// bound.Bandwidth, Segment 0 (no cutting) or between bound.Segment/32 and
// bound.Segment, and Distribution up to bound.Distribution. Burst and Reset are drawn as well when bound has
// them (Burst.R between a tenth of its bound and its bound: a burst that
// never ends is not a burst).
func DrawProfile(rt *rapid.T, bound faultconn.Profile) faultconn.Profile {
	var p faultconn.Profile
	// Durations are drawn in thousandths of their bound, so that they
	// spread over its range (and shrink towards zero) instead of
	// clustering at a few nanoseconds.
	dur := func(name string, m time.Duration) time.Duration {
		if m <= 0 {
			return 0
		}
		k := rapid.Int64Range(0, 1000).Draw(rt, name+" (‰ of bound)")
		return time.Duration(int64(m) / 1000 * k)
	}
	prob := func(name string, m float64) float64 {
		if m <= 0 {
			return 0
		}
		return rapid.Float64Range(0, m).Draw(rt, name)
	}
	p.Latency = dur("latency", bound.Latency)
	if bound.Latency > 0 {
		// Off the round instants of the system's own timers, and off the
		// nemesis's: an answer due at the very instant a timeout fires
		// makes the system's own choice between them up to the scheduler.
		p.Latency += latencyOffset
	}
	p.Jitter = dur("jitter", bound.Jitter)
	if bound.Distribution > 0 && p.Jitter > 0 {
		p.Distribution = faultconn.Distribution(rapid.IntRange(0, int(bound.Distribution)).Draw(rt, "distribution"))
	}
	if p.Jitter > 0 {
		p.Correlation = prob("correlation", bound.Correlation)
	}
	if bound.Bandwidth > 0 && rapid.Bool().Draw(rt, "limit bandwidth") {
		p.Bandwidth = rapid.Int64Range(max(bound.Bandwidth/100, 1), bound.Bandwidth).Draw(rt, "bandwidth")
	}
	if bound.Burst != nil {
		if rapid.Bool().Draw(rt, "burst loss") {
			p.Burst = &faultconn.GilbertElliott{
				P: prob("burst p", bound.Burst.P), R: rapid.Float64Range(bound.Burst.R/10, bound.Burst.R).Draw(rt, "burst r"),
				BadLoss: prob("burst badloss", bound.Burst.BadLoss), GoodLoss: prob("burst goodloss", bound.Burst.GoodLoss),
			}
		}
	}
	if p.Burst == nil {
		p.Loss = prob("loss", bound.Loss)
	}
	p.Duplicate = prob("duplicate", bound.Duplicate)
	p.Reorder = prob("reorder", bound.Reorder)
	p.Corrupt = prob("corrupt", bound.Corrupt)
	if bound.Segment > 0 && rapid.Bool().Draw(rt, "cut segments") {
		// Not below a 32nd of the bound: one-byte segments are legal
		// pressure, but they multiply a case's events by the payload size.
		p.Segment = rapid.IntRange(max(bound.Segment/32, 1), bound.Segment).Draw(rt, "segment")
	}
	p.Reset = prob("reset", bound.Reset)
	return p
}

// drawLinkProfile is DrawProfile within opts.Faults, the case's bound:
// when the swarm turned latency off, the latency is latencyOffset, not
// zero, which would put arrivals on the round instants of the writes.
func drawLinkProfile(rt *rapid.T, opts Options) faultconn.Profile {
	p := DrawProfile(rt, opts.Faults)
	if opts.offsetLatency {
		p.Latency = latencyOffset
	}
	return p
}

// latencyOffset is added to every drawn Latency: like Offset it keeps
// arrivals off round instants, and being a different, prime number of
// nanoseconds it keeps them off the nemesis's instants too.
const latencyOffset = 1009 * time.Nanosecond
