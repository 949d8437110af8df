package harness

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
)

// A caseRunner runs the cases of one Check (or one Fuzz input), each in its
// own bubble, under one stall watchdog, and keeps what the property's own
// failure was when goroutines were left blocked: synctest then panics with
// "main bubble goroutine has exited but blocked goroutines remain", and
// rapid would report that panic instead of the property's failure.
// It replays the failing case that rapid reports once more, to say whether
// it replays (see replayCase).
// Cases run one at a time; a nil caseRunner does nothing.
type caseRunner struct {
	t    *testing.T // the test the cases run in, for the replay's subtest
	wd   *watchdog
	fuzz bool // the cases are fuzz inputs
	// campaign is set in a campaign's case=k subtest: its replay is a
	// plain run of the test.
	campaign bool
	// Set in the bubble by ended, read outside after the bubble ended
	// (synctest.Test's return orders the two).
	left       string // one-line account of the goroutines left blocked; "" if none
	propFailed bool   // the property failed
	propPanic  any    // what it panicked with (rapid's failure), if it did

	draws      caseDraws     // the current case's draws
	lastSeed   uint64        // the rapid seed of the last case rapid drew at random
	lastSeeded bool          // lastSeed is known
	inReplay   bool          // the current case is the replay of a failing case
	runs       [2]caseResult // the current case's run and its replay, recorded in their bubbles
}

// caseResult is how one run of a case ended: its trace, whether and how
// it failed, and (for a failure that is not a replay) its report, given
// the line that says whether it replays.
type caseResult struct {
	events   []faultconn.Event // the trace's events, in canonical order
	overflow uint64            // events the trace discarded
	failed   bool
	msg      string // the first failure message given to T, if any
	report   func(reproducible string) string
	done     bool // the run was recorded
}

func newCaseRunner(t *testing.T, stall time.Duration) (*caseRunner, error) {
	bound, err := stallBound(stall)
	if err != nil {
		return nil, err
	}
	return &caseRunner{t: t, wd: startWatchdog(t.Name(), bound), campaign: campaignCase(t)}, nil
}

func (cr *caseRunner) close() {
	if cr != nil {
		cr.wd.close()
	}
}

// fuzzInputNote follows a fuzz input's replay command in a report, and
// then the input's file and ")".
const fuzzInputNote = " (the input is "

// syncTest runs one case in a bubble. If it failed, it logs the case's
// report, saying whether the case replays. If goroutines were left
// blocked, it re-panics with the property's own failure if there was one,
// else with a one-line account of the goroutines (their stacks are in the
// case's log).
func (cr *caseRunner) syncTest(rt *rapid.T, opts Options, body func(*T)) {
	cr.left, cr.propFailed, cr.propPanic = "", false, nil
	cr.runs = [2]caseResult{}
	cr.draws = readDraws(rt)
	if cr.draws.seeded {
		cr.lastSeed, cr.lastSeeded = cr.draws.seed, true
	}
	defer func() {
		r := recover()
		if report := cr.runs[0].report; report != nil {
			rt.Log(report(cr.reproducible(opts, body)))
		}
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

// record keeps how a run of the current case ended; call it in the bubble.
func (cr *caseRunner) record(res caseResult) {
	if cr == nil {
		return
	}
	res.done = true
	if cr.inReplay {
		cr.runs[1] = res
	} else {
		cr.runs[0] = res
	}
}

// replaying reports whether the current case is a replay.
func (cr *caseRunner) replaying() bool { return cr != nil && cr.inReplay }

// enter starts watching the case's bubble; call it in the bubble.
func (cr *caseRunner) enter(ht *T) {
	if cr == nil {
		return
	}
	replay := cr.stallReplay(cr.t.Name())
	cr.wd.enter(func() []string {
		lines := []string{
			fmt.Sprintf("case: network seed %d, faults %s", ht.Seed, humanProfile(ht.Faults, true)),
			"schedule: " + ht.Schedule.describe(ht.stepHostsOf()),
			"nemesis did: " + ht.nemesisLog(),
			"exact: " + caseJSON(ht),
		}
		if ht.replay {
			lines = append(lines, "this is the harness's replay of the failing case rapid reported, run once more to check that it replays")
		}
		return append(lines, "replay: "+replay)
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

// replay is the command that replays the failing case of test name, run
// from the module's root, as best the harness can know it: rapid writes
// its failfile before it runs the failing case the last time (the run
// whose report this is); without one, the seed of the last case it drew
// at random is the failing case's (read from rapid's state, see
// readDraws); a fuzz input that fails is a file of the corpus named by
// the subtest.
func (cr *caseRunner) replay(name string) string {
	pkg := packageDir()
	if cr != nil && cr.campaign {
		// A campaign's case=k subtest: the seed replays the case in a
		// plain run of the test.
		name, _, _ = strings.Cut(name, "/")
	}
	if cr != nil && cr.fuzz {
		target, input, ok := strings.Cut(name, "/")
		if ok && fuzzInputRE.MatchString(input) {
			return fmt.Sprintf("%sgo test %s -run '%s'"+fuzzInputNote+"%s)", twinPrefix(), pkg, runPattern(name),
				filepath.ToSlash(filepath.Join(strings.TrimPrefix(pkg, "./"), "testdata", "fuzz", target, input)))
		}
		if ok && seedInputRE.MatchString(input) {
			// An input the target added with f.Add: plain go test runs it.
			return fmt.Sprintf("%sgo test %s -run '%s'", twinPrefix(), pkg, runPattern(name))
		}
		return fmt.Sprintf("go test saves this input under %s and prints how to re-run it",
			filepath.ToSlash(filepath.Join(strings.TrimPrefix(pkg, "./"), "testdata", "fuzz", target)))
	}
	if f := rapidFailfile(name); f != "" {
		return fmt.Sprintf("%sgo test %s -run '%s' -rapid.failfile=%s", twinPrefix(), pkg, runPattern(name), f)
	}
	if cr != nil && cr.lastSeeded {
		// The seed of the last case rapid drew at random: the failing
		// one, which rapid then shrank (as its "To reproduce" line says).
		return fmt.Sprintf("%sgo test %s -run '%s' -rapid.seed=%d", twinPrefix(), pkg, runPattern(name), cr.lastSeed)
	}
	return fmt.Sprintf("%sgo test %s -run '%s' -rapid.seed=N, N the seed on rapid's \"To reproduce\" line of this failure",
		twinPrefix(), pkg, runPattern(name))
}

// fuzzInputRE matches the name go test gives a corpus file, and
// seedInputRE the name of an input the target added with f.Add.
var (
	fuzzInputRE = regexp.MustCompile(`^[0-9a-f]{16}$`)
	seedInputRE = regexp.MustCompile(`^seed#\d+$`)
)

// rapidFailfile is the failfile rapid wrote (or replays) for test name,
// relative to the package directory (where go test runs the test binary),
// or "" if there is none: -rapid.failfile if given, else the newest of
// this process's failfiles in testdata/rapid, unless -rapid.nofailfile.
func rapidFailfile(name string) string {
	if f := flag.Lookup("rapid.failfile"); f != nil && f.Value.String() != "" {
		return f.Value.String()
	}
	if f := flag.Lookup("rapid.nofailfile"); f != nil && f.Value.String() == "true" {
		return ""
	}
	safe := safeFileName(name)
	files, _ := filepath.Glob(filepath.Join("testdata", "rapid", safe, fmt.Sprintf("%s-*-%d.fail", safe, os.Getpid())))
	if len(files) == 0 {
		return ""
	}
	slices.Sort(files) // the timestamp is in the name
	return filepath.ToSlash(files[len(files)-1])
}

// safeFileName is how rapid names a test's failfiles: letters, digits,
// '-' and '_' kept, anything else '_'.
func safeFileName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
