package harness

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/internal/timeline"
)

// Recording is what T.Record draws on a failing case's timeline page,
// one bar per operation on its client's row, from call to return, with
// the operations the checker could not place highlighted. It is a
// *History or a *Verdict, which CheckModel returns for any Model; only
// harness's types implement it.
//
// The page takes what the checker found: a Verdict's Stuck operations,
// or, for a History, those of the *LinearizabilityError the property
// failed the case with (given to T.Error, T.Fatal or their f forms,
// wrapped or not). A property that reports the error in its own words
// (testify's require formats it) has its History checked once more for
// the page.
type Recording interface {
	bars(start time.Time, blamed *LinearizabilityError) []timeline.Bar
}

// Record registers r with the case: when the case fails, its timeline
// page draws r's operations (see Recording). Record what the property
// checks; a later Record replaces an earlier one. It is safe for
// concurrent use.
func (t *T) Record(r Recording) {
	t.mu.Lock()
	t.rec = r
	t.mu.Unlock()
}

// recorded returns what Record registered and the linearizability error
// the case failed with, if any.
func (t *T) recorded() (Recording, *LinearizabilityError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rec, t.blamed
}

// noteBlamed keeps the first *LinearizabilityError among a failure's
// arguments, for the page.
func (t *T) noteBlamed(args []any) {
	for _, a := range args {
		var le *LinearizabilityError
		if err, ok := a.(error); ok && errors.As(err, &le) {
			t.mu.Lock()
			if t.blamed == nil {
				t.blamed = le
			}
			t.mu.Unlock()
			return
		}
	}
}

// caseView is what a failing case's timeline page shows besides its
// trace and the report's header lines.
type caseView struct {
	// t is the test whose artifact directory (go test -artifacts) gets
	// the page; nil for none.
	t         *testing.T
	name      string // the test's, the page's title
	violation string
	intervals []timeline.Interval
	rec       Recording             // drawn as bars, if not nil
	blamed    *LinearizabilityError // what the case failed with, for rec
	start     time.Time             // when the case began, for rec's times
	exact     string                // a Check case's exact draws (caseJSON), for failure.json
	did       []string              // what the nemesis did, for failure.json
}

// timelineFile names a page from a trace's base name.
func timelineFile(base string) string { return sanitize(base) + ".timeline.html" }

// writeTimeline writes the case's timeline page into the test's artifact
// directory (only with go test -artifacts: without it the directory is a
// temporary one, removed when the test ends) and into the -headwind.trace
// directory if set, and returns the paths written.
func writeTimeline(base string, header []string, tr *faultconn.Trace, v *caseView) ([]string, error) {
	dirs := reportDirs(v)
	if len(dirs) == 0 {
		return nil, nil
	}
	p := timeline.Page{Title: "headwind timeline", Header: header, Events: tr.Events(), Discarded: tr.Overflow()}
	if v != nil {
		p.Violation, p.Intervals, p.Bars = v.violation, v.intervals, recordingBars(v.rec, v.start, v.blamed)
	}
	if v != nil {
		p.Title = v.name
	}
	var paths []string
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return paths, err
		}
		path := filepath.Join(dir, timelineFile(base))
		f, err := os.Create(path)
		if err != nil {
			return paths, err
		}
		err = timeline.Write(f, p)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// reportDirs are the directories a failing case's page and failure.json
// go to: the test's artifact directory (only with go test -artifacts)
// and the -headwind.trace directory, if set.
func reportDirs(v *caseView) []string {
	var dirs []string
	if v != nil && v.t != nil && artifacts() {
		dirs = append(dirs, v.t.ArtifactDir())
	}
	if dir := traceDir(); dir != "" {
		dirs = append(dirs, dir)
	}
	return dirs
}

// artifacts reports whether go test runs with -artifacts.
func artifacts() bool {
	f := flag.Lookup("test.artifacts")
	return f != nil && f.Value.String() == "true"
}

// The conversions below turn what the harness has into the page's plain
// inputs; they are the only places that know both.

// scheduleIntervals shades a nemesis schedule, step i's host indices
// resolved against hostsOf(i), as the step resolved them (a step that
// saw fewer than two hosts is skipped): a partition lasts until the
// next partition or heal, an isolation until the next heal, a degraded
// link until the final heal; a reset is an instant. Other steps (the
// mode, your own) are not shaded here; crashes and pauses are shaded as
// they happened (T.spanIntervals), whoever made them: the nemesis or the
// property.
func scheduleIntervals(s Schedule, hostsOf func(i int) []string) []timeline.Interval {
	until := func(i int, ends func(Step) bool) time.Duration {
		for _, st := range s.Steps[i+1:] {
			if ends(st.Step) {
				return st.At
			}
		}
		return s.End
	}
	isHeal := func(x Step) bool { _, ok := x.(healStep); return ok }
	var out []timeline.Interval
	for i, ts := range s.Steps {
		hosts := hostsOf(i)
		if len(hosts) < 2 {
			continue
		}
		iv := timeline.Interval{Start: ts.At, Label: describe(ts.Step, hosts)}
		switch st := ts.Step.(type) {
		case partitionStep:
			iv.Kind, iv.Hosts = "partition", hosts
			iv.End = until(i, func(x Step) bool { _, p := x.(partitionStep); return p || isHeal(x) })
		case isolateStep:
			iv.Kind, iv.Hosts = "isolate", []string{pick(hosts, st.host, 2)}
			iv.End = until(i, isHeal)
		case degradeStep:
			a, b := pair(hosts, st.from, st.to)
			iv.Kind, iv.Hosts, iv.End = "degrade", []string{a, b}, s.End
		case resetStep:
			a, b := pair(hosts, st.a, st.b)
			iv.Kind, iv.Hosts, iv.End = "reset", []string{a, b}, ts.At
		default:
			continue
		}
		out = append(out, iv)
	}
	return out
}

// recordingBars draws r's operations relative to start (the case's
// beginning); pending ones run to the page's end.
func recordingBars(r Recording, start time.Time, blamed *LinearizabilityError) []timeline.Bar {
	if r == nil {
		return nil
	}
	return r.bars(start, blamed)
}

// bars draws h's operations, those le blames violating; without le, the
// ones a check of h now blames.
func (h *History) bars(start time.Time, le *LinearizabilityError) []timeline.Bar {
	if h == nil {
		return nil
	}
	if le == nil {
		errors.As(CheckLinearizable(h), &le)
	}
	blamed := map[int64]bool{} // call ticks
	if le != nil {
		for _, v := range le.Violations {
			blamed[v.Ops[v.Stuck].Call] = true
		}
	}
	ops := h.Operations()
	bars := make([]timeline.Bar, 0, len(ops))
	for _, o := range ops {
		bars = append(bars, opBar(start, o.Client, barLabel(o), fmt.Sprint(o), o.Call, o.Return, o.CalledAt, o.ReturnedAt, blamed[o.Call]))
	}
	return bars
}

// bars draws the verdict's operations, its Stuck ones violating.
func (v *Verdict[I, O]) bars(start time.Time, _ *LinearizabilityError) []timeline.Bar {
	if v == nil {
		return nil
	}
	describe := v.describeOp
	if describe == nil { // a Verdict CheckModel did not make
		describe = func(in I, out O, pending bool) string { return fmt.Sprint(in, " → ", out) }
	}
	bars := make([]timeline.Bar, 0, len(v.Entries))
	for i, e := range v.Entries {
		d := describe(e.Input, e.Output, e.Pending())
		bars = append(bars, opBar(start, e.Client, d, d, e.Call, e.Return, e.CalledAt, e.ReturnedAt, v.Stuck(i)))
	}
	return bars
}

// opBar is one operation's bar; an operation that never returned
// (ret 0) is pending.
func opBar(start time.Time, client int, label, detail string, call, ret int64, calledAt, returnedAt time.Time, violating bool) timeline.Bar {
	b := timeline.Bar{
		Client:    strconv.Itoa(client),
		Label:     label,
		Detail:    fmt.Sprintf("%s (ticks %d..%d)", detail, call, ret),
		Start:     calledAt.Sub(start),
		Pending:   ret == 0,
		Violating: violating,
	}
	if ret != 0 {
		b.End = returnedAt.Sub(start)
	}
	return b
}
