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

// Record registers h with the case: when the case fails, its timeline
// page draws h's operations as bars per client, from call to return, and
// highlights those a linearizability check of h blames. Record the
// history the property checks; a later Record replaces an earlier one.
// It is safe for concurrent use.
func (t *T) Record(h *History) {
	t.mu.Lock()
	t.hist = h
	t.mu.Unlock()
}

func (t *T) recorded() *History {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hist
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
	hist      *History  // drawn as bars, if not nil
	start     time.Time // when the case began, for hist's times
	exact     string    // a Check case's exact draws (caseJSON), for failure.json
	did       []string  // what the nemesis did, for failure.json
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
		p.Violation, p.Intervals, p.Bars = v.violation, v.intervals, historyBars(v.hist, v.start)
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

// historyBars draws h's operations relative to start (the case's
// beginning); pending ones run to the page's end. The operations a
// linearizability check of h could not place are marked violating.
func historyBars(h *History, start time.Time) []timeline.Bar {
	if h == nil {
		return nil
	}
	ops := h.Operations()
	blamed := map[int64]bool{} // call ticks
	var le *LinearizabilityError
	if errors.As(CheckLinearizable(h), &le) {
		for _, v := range le.Violations {
			blamed[v.Ops[v.Stuck].Call] = true
		}
	}
	bars := make([]timeline.Bar, 0, len(ops))
	for _, o := range ops {
		b := timeline.Bar{
			Client:    strconv.Itoa(o.Client),
			Label:     barLabel(o),
			Detail:    fmt.Sprintf("%v (ticks %d..%d)", o, o.Call, o.Return),
			Start:     o.CalledAt.Sub(start),
			Pending:   o.Pending(),
			Violating: blamed[o.Call],
		}
		if !o.Pending() {
			b.End = o.ReturnedAt.Sub(start)
		}
		bars = append(bars, b)
	}
	return bars
}
