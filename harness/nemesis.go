package harness

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"pgregory.net/rapid"
)

// Step is one nemesis action, drawn by its Fault and run by the nemesis at
// its instant. A Step is a value: it holds what was drawn (host indices,
// a mask, a profile) and nothing of the case it runs in.
//
// Hosts are chosen when the step runs, from hosts (the network's hosts
// sorted by name; the body creates them, so there may be none yet) by
// index modulo their number, so that a schedule means the same thing on
// every replay.
type Step interface {
	// Apply does the step to t's network (t.Net, t.Crash, t.Restart, …)
	// and returns what it did, with host names, for the report: "isolate
	// server". It runs on the nemesis's goroutine, concurrently with the
	// property's body, and should not block: the next step waits for it.
	// With too few hosts it does nothing and says so.
	Apply(t *T, hosts []string) string
	// String describes the step exactly, with host indices and exact
	// values ("isolate #1"): the form of the case's exact line. Begin it
	// with the Fault's Name.
	String() string
}

// A Step may also have a method Describe(hosts []string) string that
// describes it for reading, with hosts resolved as Apply resolves them
// ("isolate server"); the report's schedule line uses String otherwise.
type describer interface {
	Describe(hosts []string) string
}

// Fault is a kind of nemesis step: the schedule's steps are drawn from
// Options.Nemesis, each by its Fault's Draw. The built-ins are in
// Builtins; a property adds its own, such as "restart the current
// leader", by listing a Fault of its own there.
//
// Which Fault a step comes from is drawn as a slot in [0, MaxFaults):
// built-ins have fixed slots from 0 upwards, in the order of Builtins,
// and are never renumbered; the faults of Options.Nemesis that are not
// built-ins take slots from MaxFaults-1 downwards, in the order they are
// listed. A slot no listed fault holds is rejected (rapid's Filter), and
// rapid's shrinker removes rejected draws from the case it reports, so a
// saved failfile names slots that meant the same when it was written.
// See the package documentation's Nemesis section for what that promises.
type Fault struct {
	// Name names the steps in reports and the fault in the swarm's set;
	// unique within Options.Nemesis, not empty.
	Name string
	// Draw draws one step from rt. opts are the case's options: Faults
	// is the profile bound with the swarm's disabled families zeroed.
	Draw func(rt *rapid.T, opts Options) Step

	slot int // 1 + the built-in's slot; 0 for a fault of the user's
}

// MaxFaults is the most faults Options.Nemesis may list: the number of
// slots a step's fault is drawn from.
const MaxFaults = 16

// Builtins returns the built-in faults, in the order of their fixed
// slots: "partition" (split the hosts in two groups by a drawn mask),
// "isolate" (cut one host off from all others), "degrade" (set the
// profile of one direction between two hosts, drawn within
// Options.Faults), "reset" (reset every live connection between two
// hosts), "heal" (end partitions and isolations), "crash" (T.Crash a
// host), "restart" (T.Restart one of the crashed hosts), "pause" (freeze
// a host's traffic both ways), "resume" (resume one of the paused hosts)
// and "mode" (set the partition mode to drop or reject). Every call
// returns a new slice.
func Builtins() []Fault {
	fs := []Fault{
		{Name: "partition", Draw: drawPartition},
		{Name: "isolate", Draw: drawIsolate},
		{Name: "degrade", Draw: drawDegrade},
		{Name: "reset", Draw: drawReset},
		{Name: "heal", Draw: drawHeal},
		{Name: "crash", Draw: drawCrash},
		{Name: "restart", Draw: drawRestart},
		{Name: "pause", Draw: drawPause},
		{Name: "resume", Draw: drawResume},
		{Name: "mode", Draw: drawMode},
		// New built-ins go here, at the end: slots are never renumbered.
	}
	for i := range fs {
		fs[i].slot = i + 1
	}
	return fs
}

// DefaultNemesis returns the faults Check draws when Options.Nemesis is
// empty: the built-ins but "crash" and "restart".
//
// A crashed host's service comes back only if the property registered it
// (T.Service), so a property that checks liveness after the heal would
// fail for a reason of the harness's making; add crash and restart when
// the property runs its hosts' services with T.Service:
//
//	opts.Nemesis = harness.Builtins() // all of them
func DefaultNemesis() []Fault {
	var fs []Fault
	for _, f := range Builtins() {
		switch f.Name {
		case "crash", "restart":
		default:
			fs = append(fs, f)
		}
	}
	return fs
}

// nemesisSlots places the faults of list in their slots, or says why
// list is not valid.
func nemesisSlots(list []Fault) ([MaxFaults]Fault, error) {
	var slots [MaxFaults]Fault
	var errs []error
	if len(list) > MaxFaults {
		return slots, fmt.Errorf("harness: Options.Nemesis lists %d faults, out of range [0,%d] (MaxFaults)", len(list), MaxFaults)
	}
	names := map[string]int{}
	next := MaxFaults - 1 // the next slot for a fault of the user's
	for i, f := range list {
		switch {
		case f.Name == "":
			errs = append(errs, fmt.Errorf("harness: Options.Nemesis[%d].Name is empty", i))
		case strings.ContainsAny(f.Name, " ,;"):
			errs = append(errs, fmt.Errorf("harness: Options.Nemesis[%d].Name %q has a space, comma or semicolon", i, f.Name))
		}
		if j, ok := names[f.Name]; ok {
			errs = append(errs, fmt.Errorf("harness: Options.Nemesis[%d].Name %q is also the name of Options.Nemesis[%d]", i, f.Name, j))
		}
		names[f.Name] = i
		if f.Draw == nil {
			errs = append(errs, fmt.Errorf("harness: Options.Nemesis[%d] (%q) has no Draw", i, f.Name))
		}
		s := f.slot - 1
		if f.slot == 0 {
			s, next = next, next-1
		}
		if slots[s].Name != "" {
			errs = append(errs, fmt.Errorf("harness: Options.Nemesis[%d] (%q) needs slot %d, held by %q: built-ins take slots from 0 up, faults of your own from %d down, %d in all (MaxFaults)",
				i, f.Name, s, slots[s].Name, MaxFaults-1, MaxFaults))
			continue
		}
		slots[s] = f
	}
	return slots, errors.Join(errs...)
}

// offset is added to the instant of every nemesis step, which are whole
// milliseconds otherwise (drawn latencies get 1009ns). Events at the same
// virtual instant run in an order the Go scheduler chooses; the odd offset
// keeps the nemesis and the arrivals off the round instants of the
// system's own timers (timeouts, backoffs, retransmissions), so that a
// case replays the same way every time.
const offset = 777 * time.Nanosecond

// TimedStep is a step of a schedule and when it runs.
type TimedStep struct {
	At   time.Duration // since the case began: whole milliseconds plus 777ns
	Step Step
}

// Schedule is a nemesis schedule: steps in time order, then a final heal
// that ends partitions and isolations, resumes paused hosts and restarts
// crashed ones (T.Restart).
type Schedule struct {
	Steps []TimedStep   // in time order
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
		parts = append(parts, fmt.Sprintf("at %v %v", st.At, st.Step))
	}
	return strings.Join(parts, "; ") + fmt.Sprintf("; at %v heal all", s.End)
}

// describe describes st for reading: its Describe, if it has one, else
// its String.
func describe(st Step, hosts []string) string {
	if ds, ok := st.(describer); ok {
		return ds.Describe(hosts)
	}
	return st.String()
}

// describe is the schedule for reading, each step's hosts resolved as the
// step resolved them: against hostsOf(i), the network's hosts, sorted by
// name, when step i ran.
func (s Schedule) describe(hostsOf func(i int) []string) string {
	var parts []string
	for i, st := range s.Steps {
		parts = append(parts, fmt.Sprintf("at %v %s", at(st.At), describe(st.Step, hostsOf(i))))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("no steps; at %v heal all", at(s.End))
	}
	return strings.Join(parts, "; ") + fmt.Sprintf("; at %v heal all", at(s.End))
}

// drawSchedule draws the case's schedule from the faults whose slots are
// enabled (listed, and on in the case's swarm). opts.Faults is the
// swarm's bound.
func drawSchedule(rt *rapid.T, opts Options, enabled [MaxFaults]bool) Schedule {
	s := Schedule{End: opts.Duration + offset}
	if opts.MaxSteps < 0 || enabled == ([MaxFaults]bool{}) {
		return s
	}
	slot := rapid.IntRange(0, MaxFaults-1).Filter(func(i int) bool { return enabled[i] })
	// rapid's Filter gives up (and discards the case) after 5 draws it
	// rejects; a case with one fault of 16 enabled would be discarded
	// often. Each Custom around it tries 5 times more, and rejected
	// draws stay discarded groups, which the shrinker removes.
	for range 2 {
		g := slot
		slot = rapid.Custom(func(rt *rapid.T) int { return g.Draw(rt, "fault slot") })
	}
	step := rapid.Custom(func(rt *rapid.T) TimedStep {
		ms := rapid.Int64Range(0, int64(opts.Duration/time.Millisecond)).Draw(rt, "at (ms)")
		f := opts.slots[slot.Draw(rt, "fault")]
		st := f.Draw(rt, opts)
		if st == nil {
			rt.Fatalf("harness: Options.Nemesis fault %q drew a nil Step", f.Name)
		}
		return TimedStep{At: time.Duration(ms)*time.Millisecond + offset, Step: st}
	})
	// A slice shrinks by dropping any step, not only the last drawn.
	s.Steps = rapid.SliceOfN(step, 0, opts.MaxSteps).Draw(rt, "nemesis")
	sort.SliceStable(s.Steps, func(i, j int) bool { return s.Steps[i].At < s.Steps[j].At })
	return s
}

// stepHostsOf returns the hosts each step of the schedule resolved its host
// indices against: the network's when the step ran, or, for a step that
// has not run, its hosts now. Hosts made by the property after a step ran
// (a client created late) do not change what that step meant.
func (t *T) stepHostsOf() func(i int) []string {
	now := t.Net.Hosts()
	t.mu.Lock()
	ran := slices.Clone(t.stepHosts)
	t.mu.Unlock()
	return func(i int) []string {
		if i < len(ran) {
			return ran[i]
		}
		return now
	}
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
		hosts := t.Net.Hosts()
		t.mu.Lock()
		t.stepHosts = append(t.stepHosts, hosts)
		t.mu.Unlock()
		t.logf("at %v %s", at(st.At), st.Step.Apply(t, hosts))
	}
	if !wait(t.Schedule.End) {
		return
	}
	t.logf("at %v %s", at(t.Schedule.End), t.healAll())
	close(t.healed)
}

// healAll is the schedule's final heal: it ends partitions and
// isolations, resumes paused hosts and restarts crashed ones, and says
// which.
func (t *T) healAll() string {
	t.Net.Heal()
	did := "heal all"
	var resumed, restarted, failed []string
	for _, h := range t.Net.Hosts() {
		if t.Net.Paused(h) {
			if err := t.Net.Resume(h); err != nil {
				failed = append(failed, err.Error())
			} else {
				t.spanEnd("pause", h)
				resumed = append(resumed, h)
			}
		}
		if !t.Net.Up(h) {
			if err := t.Restart(h); err != nil {
				failed = append(failed, err.Error())
			} else {
				restarted = append(restarted, h)
			}
		}
	}
	if len(resumed) > 0 {
		did += ", resume " + strings.Join(resumed, " ")
	}
	if len(restarted) > 0 {
		did += ", restart " + strings.Join(restarted, " ")
	}
	if len(failed) > 0 {
		did += " (" + strings.Join(failed, "; ") + ")"
	}
	return did
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

// nemesisSteps returns what the nemesis did, step by step.
func (t *T) nemesisSteps() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.log)
}

// pick is the host index i resolves to among hosts, or "" when there are
// fewer than least hosts (the step then does nothing).
func pick(hosts []string, i, least int) string {
	if len(hosts) < max(least, 1) {
		return ""
	}
	return hosts[i%len(hosts)]
}

// pair is the two distinct hosts indices a and b resolve to among hosts
// (b moves on to the next host when they meet), or "", "" when there are
// fewer than two.
func pair(hosts []string, a, b int) (string, string) {
	if len(hosts) < 2 {
		return "", ""
	}
	ha, hb := hosts[a%len(hosts)], hosts[b%len(hosts)]
	if ha == hb {
		hb = hosts[(b+1)%len(hosts)]
	}
	return ha, hb
}

// tooFew is what a step that needs at least n hosts did without them.
func tooFew(name string, n int) string {
	return fmt.Sprintf("%s: skipped (fewer than %d hosts)", name, n)
}

// drawHost draws a host index, resolved modulo the number of hosts.
func drawHost(rt *rapid.T, label string) int { return rapid.IntRange(0, 63).Draw(rt, label) }
