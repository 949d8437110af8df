package harness

import (
	"errors"
	"fmt"
	"sort"
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

	opts    Options
	healed  chan struct{}
	nemDone chan struct{}
	// replay is set when the case is the harness's replay of a failing
	// case: failures are recorded here and not given to rapid.
	replay bool

	mu   sync.Mutex // guards log, firstErr, failed and hist
	log  []string   // what the nemesis did
	hist *History   // the history Record registered, for the timeline page
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
	if t.noteErr(fmt.Sprintf(format, args...)) {
		return
	}
	t.T.Errorf(format, args...)
}

// Error logs the arguments and marks the case failed, like rapid's.
func (t *T) Error(args ...any) {
	t.T.Helper()
	if t.noteErr(fmt.Sprint(args...)) {
		return
	}
	t.T.Error(args...)
}

// Fatalf logs the message and stops the case as failed, like rapid's.
func (t *T) Fatalf(format string, args ...any) {
	t.T.Helper()
	if t.noteErr(fmt.Sprintf(format, args...)) {
		panic(replayStop{})
	}
	t.T.Fatalf(format, args...)
}

// Fatal logs the arguments and stops the case as failed, like rapid's.
func (t *T) Fatal(args ...any) {
	t.T.Helper()
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

	run *caseRunner // per Check call: the watchdog and how the last case ended
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
	var errs []error
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
// own netsim.Network, whose seed, default profile (within the profile of
// -headwind.faults if given, else DefaultFaults) and nemesis schedule (partitions, heals, isolations, link degradations
// and resets of live connections, over 10s of virtual time) are drawn by
// rapid, so a failing case shrinks to the smallest faults and the
// shortest schedule that still fail. The failure output gives rapid's
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
	cr, err := newCaseRunner(t, opts.Stall)
	if err != nil {
		t.Fatal(err)
	}
	defer cr.close()
	opts.run = cr
	rapid.Check(t, func(rt *rapid.T) { cr.syncTest(rt, opts, body) })
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
	opts.run.enter(ht)
	go ht.nemesis()
	defer func() {
		r := recover()
		if after != nil {
			after(ht)
		}
		time.Sleep(opts.WindDown)
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
		// Logged at the end, when the body has made the hosts the
		// schedule's indices resolve to; rapid shows them for the
		// failing case only.
		rt.Logf("headwind: case faults: %s", humanProfile(ht.Faults, true))
		rt.Logf("headwind: case schedule: %s", ht.Schedule.describe(n.Hosts()))
		rt.Logf("headwind: case exact: %s", caseJSON(ht))
		if len(left) > 0 {
			rt.Error(leftoverReport("property", left))
			opts.run.ended(r, failed, leftoverSummary("property", left))
		}
		opts.run.leave()
		if failed {
			schedule, nemesis := ht.Schedule.describe(n.Hosts()), ht.nemesisLog()
			view := &caseView{name: rt.Name(), violation: ht.firstError(), intervals: scheduleIntervals(ht.Schedule, n.Hosts()), hist: ht.recorded(), start: tr.Start()}
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
	ht.Faults = DrawProfile(rt, opts.Faults)
	ht.Schedule = drawSchedule(rt, opts)
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

// StepKind is what a nemesis step does.
type StepKind int

const (
	// StepPartition splits the hosts in two groups by a drawn mask.
	StepPartition StepKind = iota
	// StepIsolate cuts one host off from all others.
	StepIsolate
	// StepDegrade sets the profile of one direction between two hosts.
	StepDegrade
	// StepReset resets every live connection between two hosts.
	StepReset
	// StepHeal ends partitions and isolations.
	StepHeal
)

var stepNames = [...]string{"partition", "isolate", "degrade", "reset", "heal"}

// String returns the step's name: "partition", "isolate", "degrade",
// "reset" or "heal".
func (k StepKind) String() string {
	if k >= 0 && int(k) < len(stepNames) {
		return stepNames[k]
	}
	return fmt.Sprintf("StepKind(%d)", int(k))
}

// Offset is added to the instant of every nemesis step, which are whole
// milliseconds otherwise (drawn latencies get 1009ns). Events at the same
// virtual instant run in an order the Go scheduler chooses; the odd offset
// keeps the nemesis and the arrivals off the round instants of the
// system's own timers (timeouts, backoffs, retransmissions), so that a
// case replays the same way every time.
const Offset = 777 * time.Nanosecond

// latencyOffset is added to every drawn Latency: like Offset it keeps
// arrivals off round instants, and being a different, prime number of
// nanoseconds it keeps them off the nemesis's instants too.
const latencyOffset = 1009 * time.Nanosecond

// Step is one nemesis action. Hosts are chosen when the step runs, from
// the network's hosts sorted by name (the body creates them), by index
// modulo their number, so a schedule means the same thing on every replay.
type Step struct {
	At      time.Duration     // since the case began
	Kind    StepKind          // what the step does
	Mask    uint64            // StepPartition: bit i set puts host i in the first group
	A, B    int               // host indices for isolate, degrade, reset
	Profile faultconn.Profile // StepDegrade
}

// Schedule is a nemesis schedule: steps in time order, then a final heal.
type Schedule struct {
	Steps []Step        // in time order
	End   time.Duration // when everything is healed
}

// String describes the schedule in the order its steps run, with host
// indices (they are resolved against the hosts when the steps run) and
// exact instants; failure reports show it with host names and rounded.
func (s Schedule) String() string {
	if len(s.Steps) == 0 {
		return "no nemesis"
	}
	var parts []string
	for _, st := range s.Steps {
		d := fmt.Sprintf("at %v %v", st.At, st.Kind)
		switch st.Kind {
		case StepPartition:
			d += fmt.Sprintf(" mask %#b", st.Mask)
		case StepIsolate:
			d += fmt.Sprintf(" host #%d", st.A)
		case StepDegrade:
			d += fmt.Sprintf(" #%d->#%d %v", st.A, st.B, st.Profile)
		case StepReset:
			d += fmt.Sprintf(" #%d<->#%d", st.A, st.B)
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, "; ") + fmt.Sprintf("; at %v heal all", s.End)
}

func drawSchedule(rt *rapid.T, opts Options) Schedule {
	s := Schedule{End: opts.Duration + Offset}
	if opts.MaxSteps < 0 {
		return s
	}
	step := rapid.Custom(func(rt *rapid.T) Step {
		ms := rapid.Int64Range(0, int64(opts.Duration/time.Millisecond)).Draw(rt, "at (ms)")
		st := Step{
			At:   time.Duration(ms)*time.Millisecond + Offset,
			Kind: StepKind(rapid.IntRange(0, int(StepHeal)).Draw(rt, "kind")),
		}
		switch st.Kind {
		case StepPartition:
			st.Mask = rapid.Uint64().Draw(rt, "mask")
		case StepIsolate:
			st.A = rapid.IntRange(0, 63).Draw(rt, "host")
		case StepDegrade, StepReset:
			st.A = rapid.IntRange(0, 63).Draw(rt, "from")
			st.B = rapid.IntRange(0, 63).Draw(rt, "to")
			if st.Kind == StepDegrade {
				st.Profile = DrawProfile(rt, opts.Faults)
			}
		}
		return st
	})
	// A slice shrinks by dropping any step, not only the last drawn.
	s.Steps = rapid.SliceOfN(step, 0, opts.MaxSteps).Draw(rt, "nemesis")
	sort.SliceStable(s.Steps, func(i, j int) bool { return s.Steps[i].At < s.Steps[j].At })
	return s
}

// Healed returns a channel closed when the nemesis has run its schedule and
// healed everything: wait on it before checking that the system recovered.
func (t *T) Healed() <-chan struct{} { return t.healed }

// nemesis runs the schedule on virtual time until its end or until the
// network closes.
func (t *T) nemesis() {
	defer close(t.nemDone)
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wait := func(at time.Duration) bool {
		timer.Reset(time.Until(start.Add(at)))
		select {
		case <-timer.C:
			return true
		case <-t.Net.Done():
			return false
		}
	}
	for _, st := range t.Schedule.Steps {
		if !wait(st.At) {
			return
		}
		t.apply(st)
	}
	if !wait(t.Schedule.End) {
		return
	}
	t.Net.Heal()
	t.logf("at %v heal all", at(t.Schedule.End))
	close(t.healed)
}

func (t *T) apply(st Step) {
	hosts := t.Net.Hosts()
	if len(hosts) < 2 {
		t.logf("at %v %v: skipped (fewer than 2 hosts)", at(st.At), st.Kind)
		return
	}
	a, b := hosts[st.A%len(hosts)], hosts[st.B%len(hosts)]
	switch st.Kind {
	case StepPartition:
		g1, g2 := st.groups(hosts)
		t.Net.Partition(g1, g2)
		t.logf("at %v partition %v | %v", at(st.At), g1, g2)
	case StepIsolate:
		t.Net.Isolate(a)
		t.logf("at %v isolate %s", at(st.At), a)
	case StepDegrade:
		if a == b {
			b = hosts[(st.B+1)%len(hosts)]
		}
		t.Net.SetLink(a, b, st.Profile)
		t.logf("at %v degrade %s->%s to %s", at(st.At), a, b, humanProfile(st.Profile, true))
	case StepReset:
		k := t.Net.ResetConns(a, b)
		t.logf("at %v reset %d conns between %s and %s", at(st.At), k, a, b)
	case StepHeal:
		t.Net.Heal()
		t.logf("at %v heal", at(st.At))
	}
}

func (t *T) logf(format string, args ...any) {
	t.mu.Lock()
	t.log = append(t.log, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

func (t *T) nemesisLog() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.log) == 0 {
		return "nothing"
	}
	return strings.Join(t.log, "; ")
}

// groups splits hosts into the two sides of a partition step: the hosts
// whose bit is set in Mask, and the rest.
func (st Step) groups(hosts []string) (g1, g2 []string) {
	for i, h := range hosts {
		if st.Mask&(1<<(i%64)) != 0 {
			g1 = append(g1, h)
		} else {
			g2 = append(g2, h)
		}
	}
	return g1, g2
}
