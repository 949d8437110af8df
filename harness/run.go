package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// TraceLimit is how many events the trace of a harness network keeps (the
// newest); older ones are discarded and counted.
const TraceLimit = 1 << 16

// Run runs body in a testing/synctest bubble with a fresh netsim.Network,
// on virtual time. The network's seed comes from -headwind.seed (or
// HEADWIND_SEED), else a fresh random one, and is logged first in
// copy-paste form; its default profile comes from -headwind.faults (or
// HEADWIND_FAULTS), so any test written with Run can be re-run under
// faults from the command line. After body returns, the network is closed,
// which unblocks every goroutine still waiting on it; goroutines still
// blocked after that fail the test, listed with their stacks. A bubble
// that makes no progress in virtual time for -headwind.stall of real time
// fails with a diagnosis (see RunOptions.Stall) instead of hanging.
//
// When the test fails, Run logs the seed, the faults, a go test command
// that replays the run, and the tail of the trace per link; with
// -headwind.trace=DIR it also writes the full trace there.
func Run(t *testing.T, body func(t *testing.T, n *netsim.Network)) {
	t.Helper()
	RunWith(t, RunOptions{}, body)
}

// RunOptions tunes RunWith. The zero value is Run: every field's zero
// value means the flag (or environment) setting, else the default.
type RunOptions struct {
	// Seed is the network's seed when FixedSeed is set. -headwind.seed
	// (HEADWIND_SEED), when given, still wins, so that the replay command
	// printed on failure replays. Without either the seed is fresh.
	Seed uint64
	// FixedSeed makes Seed the seed (Seed 0 is a real seed).
	FixedSeed bool
	// Default is the default profile of every link. The zero value means
	// the profile of -headwind.faults (HEADWIND_FAULTS), else a perfect
	// network; a Default set here wins over the flag.
	Default faultconn.Profile
	// Mode, Window and Backlog are the network's (netsim.Config): zero
	// means Stream and netsim's default window and backlog.
	Mode            faultconn.Mode
	Window, Backlog int
	// WindDown is virtual time the system gets, after body returns, to
	// finish what it was doing (goroutines that end on their own timers)
	// before the network closes. Zero closes it at once.
	WindDown time.Duration
	// Stall is how much real time the bubble may go without progress in
	// virtual time before the test fails with the bubble's goroutines and
	// which of them are not durably blocked. Zero means -headwind.stall
	// (HEADWIND_STALL), else DefaultStall; negative turns the watchdog off.
	Stall time.Duration
}

func (o RunOptions) validate() error {
	var errs []error
	if o.Mode != faultconn.Stream && o.Mode != faultconn.Segments {
		errs = append(errs, fmt.Errorf("harness: RunOptions.Mode %d out of range [0,1] (Stream, Segments)", int(o.Mode)))
	}
	if o.WindDown < 0 {
		errs = append(errs, fmt.Errorf("harness: RunOptions.WindDown %v out of range [0,∞)", o.WindDown))
	}
	if err := o.Default.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("harness: RunOptions.Default: %w", err))
	}
	return errors.Join(errs...)
}

// RunWith is Run with options: a fixed seed, a default profile, the
// network's mode and window, a wind-down time and the stall bound.
func RunWith(t *testing.T, opts RunOptions, body func(t *testing.T, n *netsim.Network)) {
	t.Helper()
	if err := opts.validate(); err != nil {
		t.Fatal(err)
	}
	s, given, err := seed()
	if err != nil {
		t.Fatal(err)
	}
	if opts.FixedSeed && !given {
		s = opts.Seed
	}
	p, spec, err := faults()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Default != (faultconn.Profile{}) {
		p, spec = opts.Default, ""
	}
	bound, err := stallBound(opts.Stall)
	if err != nil {
		t.Fatal(err)
	}
	replay := replayCommand(t.Name(), s, spec)
	t.Logf("headwind: network seed %d (replay: %s)", s, replay)
	wd := startWatchdog(t.Name(), bound)
	defer wd.close()
	var left []goroutine // written in the bubble, read after it ended
	func() {
		defer func() {
			// The leftovers are listed already; synctest's panic about
			// them would only hide the test's own failure.
			if r := recover(); r != nil && !(len(left) > 0 && isLeftoverDeadlock(r)) {
				panic(r)
			}
		}()
		synctest.Test(t, func(t *testing.T) {
			tr := faultconn.NewTrace(TraceLimit)
			n, err := netsim.New(netsim.Config{Seed: s, Default: p, Mode: opts.Mode, Window: opts.Window, Backlog: opts.Backlog, Trace: tr})
			if err != nil {
				t.Fatal(err)
			}
			wd.enter(func() []string { return []string{fmt.Sprintf("seed: %d", s), "replay: " + replay} })
			defer func() {
				time.Sleep(opts.WindDown)
				var dump string
				if t.Failed() {
					dump = strings.TrimSpace(n.Dump())
				}
				n.Close()
				left = leftoverGoroutines()
				if len(left) > 0 {
					t.Error(leftoverReport("test body", left))
				}
				if t.Failed() {
					t.Log(failureReport(fmt.Sprintf("headwind: FAILED with network seed %d", s), fmt.Sprintf("%s-seed%d", t.Name(), s), shownSpec(spec), n, tr, []string{
						"replay: " + replay,
						"network when it failed:\n    " + strings.ReplaceAll(dump, "\n", "\n    "),
					}, &caseView{t: t, name: t.Name()}))
				}
				wd.leave()
			}()
			body(t, n)
		})
	}()
	if len(left) > 0 {
		t.FailNow()
	}
}

// replayCommand is the go test command that re-runs test name with seed,
// from the module's root.
func replayCommand(name string, seed uint64, spec string) string {
	cmd := fmt.Sprintf("%sgo test %s -run '%s' -headwind.seed=%d", twinPrefix(), packageDir(), runPattern(name), seed)
	if spec != "" {
		cmd += fmt.Sprintf(" -headwind.faults='%s'", spec)
	}
	return cmd
}

// twinPrefix is "HEADWIND_TWIN=name " in a twin's process, so that its
// replay commands run the twin, and "" otherwise.
func twinPrefix() string {
	if tw := Twin(); tw != "" {
		return TwinEnv + "=" + tw + " "
	}
	return ""
}

// runPattern is the -run pattern that matches test name (with its
// subtests' path) and nothing else.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// packageDir is the package under test as go test takes it from the
// module's root: "./examples/kv", or "." for the root itself. go test runs
// a test binary in its package's directory; the root is the nearest
// directory above with a go.mod. Outside a module it is ".".
func packageDir() string {
	if p := os.Getenv(packageEnv); p != "" {
		return p // a twin, run by RunTwin outside the package's directory
	}
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil || rel == "." {
				return "."
			}
			return "./" + filepath.ToSlash(rel)
		}
		if filepath.Dir(dir) == dir {
			return "."
		}
	}
}

// sequenceLines is how many lines of message sequence a failure report
// shows (the first and last halves of a longer one).
const sequenceLines = 24

// failureReport says everything needed to understand and replay a failed
// run: the headline (which seed failed), faults, the replay command and
// other extra lines, the network's state and the tail of the trace per
// link.
// traceBase names the trace files: Run's are per seed; a Check case's are
// per test, so that the last failing case (rapid's minimal one, which it
// runs last) is the one left.
// view is what the timeline page shows besides the trace.
func failureReport(headline, traceBase string, faults string, n *netsim.Network, tr *faultconn.Trace, extra []string, view *caseView) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", headline)
	fmt.Fprintf(&b, "  faults: %s\n", faults)
	for _, l := range extra {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	if tr != nil {
		events := tr.Events()
		fmt.Fprintf(&b, "  trace: %d events kept, %d discarded, %d links\n", len(events), tr.Overflow(), len(tr.Links()))
		fmt.Fprintf(&b, "  message sequence (one line per burst of segments; faultconn.WriteSequence):\n")
		faultconn.WriteSequence(&b, events, faultconn.SequenceOptions{MaxLines: sequenceLines, Indent: "  "})
		var traceFiles []string
		if dir := traceDir(); dir != "" {
			files, err := writeTrace(dir, traceBase, tr)
			if err != nil {
				fmt.Fprintf(&b, "  trace not written: %v\n", err)
			} else {
				fmt.Fprintf(&b, "  full trace: %s\n", strings.Join(files, ", "))
			}
			traceFiles = files
		}
		header := append([]string{headline, "faults: " + faults}, extra...)
		pages, err := writeTimeline(traceBase, header, tr, view)
		switch {
		case err != nil:
			fmt.Fprintf(&b, "  timeline page not written: %v\n", err)
		case len(pages) > 0:
			fmt.Fprintf(&b, "  timeline page: %s\n", strings.Join(pages, ", "))
		default:
			fmt.Fprintf(&b, "  timeline page: run with -artifacts or -headwind.trace=DIR to get one\n")
		}
		if dirs := reportDirs(view); len(dirs) > 0 && n != nil {
			f := newFailure(headline, n.Config().Default.String(), n.Config().Seed, extra, tr, view)
			f.Files = append(append(f.Files, pages...), traceFiles...)
			if paths, err := writeFailure(dirs, traceBase, f); err != nil {
				fmt.Fprintf(&b, "  failure.json not written: %v\n", err)
			} else {
				fmt.Fprintf(&b, "  failure report: %s\n", strings.Join(paths, ", "))
			}
		}
	}
	return b.String()
}

func shownSpec(spec string) string {
	if spec == "" {
		return "none"
	}
	return spec
}

// writeTrace writes tr to dir as text and JSON lines, named base.txt and
// base.jsonl.
func writeTrace(dir, base string, tr *faultconn.Trace) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base = filepath.Join(dir, sanitize(base))
	var files []string
	for _, f := range []struct {
		ext   string
		write func(*os.File) error
	}{
		{".txt", func(w *os.File) error { return tr.WriteText(w) }},
		{".jsonl", func(w *os.File) error { return tr.WriteJSON(w) }},
	} {
		file, err := os.Create(base + f.ext)
		if err != nil {
			return files, err
		}
		err = f.write(file)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return files, err
		}
		files = append(files, base+f.ext)
	}
	return files, nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func sanitize(name string) string { return unsafeChars.ReplaceAllString(name, "_") }
