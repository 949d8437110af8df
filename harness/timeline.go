package harness

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
}

// timelineFile names a page from a trace's base name.
func timelineFile(base string) string { return sanitize(base) + ".timeline.html" }

// writeTimeline writes the case's timeline page into the test's artifact
// directory (only with go test -artifacts: without it the directory is a
// temporary one, removed when the test ends) and into the -headwind.trace
// directory if set, and returns the paths written.
func writeTimeline(base string, header []string, tr *faultconn.Trace, v *caseView) ([]string, error) {
	var dirs []string
	if v != nil && v.t != nil && artifacts() {
		dirs = append(dirs, v.t.ArtifactDir())
	}
	if dir := traceDir(); dir != "" {
		dirs = append(dirs, dir)
	}
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

// artifacts reports whether go test runs with -artifacts.
func artifacts() bool {
	f := flag.Lookup("test.artifacts")
	return f != nil && f.Value.String() == "true"
}

// The conversions below turn what the harness has into the page's plain
// inputs; they are the only places that know both.

// scheduleIntervals shades a nemesis schedule, its host indices resolved
// against hosts as the steps resolve them: a partition lasts until the
// next partition or heal, an isolation until the next heal, a degraded
// link until the final heal; a reset is an instant.
func scheduleIntervals(s Schedule, hosts []string) []timeline.Interval {
	if len(hosts) < 2 {
		return nil
	}
	var out []timeline.Interval
	until := func(i int, kinds ...StepKind) time.Duration {
		for _, st := range s.Steps[i+1:] {
			if slices.Contains(kinds, st.Kind) {
				return st.At
			}
		}
		return s.End
	}
	for i, st := range s.Steps {
		a, b := hosts[st.A%len(hosts)], hosts[st.B%len(hosts)]
		iv := timeline.Interval{Start: st.At, Kind: st.Kind.String()}
		switch st.Kind {
		case StepPartition:
			g1, g2 := st.groups(hosts)
			iv.End, iv.Hosts = until(i, StepPartition, StepHeal), hosts
			iv.Label = fmt.Sprintf("partition %v | %v", g1, g2)
		case StepIsolate:
			iv.End, iv.Hosts = until(i, StepHeal), []string{a}
			iv.Label = "isolate " + a
		case StepDegrade:
			if a == b {
				b = hosts[(st.B+1)%len(hosts)]
			}
			iv.End, iv.Hosts = s.End, []string{a, b}
			iv.Label = fmt.Sprintf("degrade %s->%s to %s", a, b, humanProfile(st.Profile, true))
		case StepReset:
			iv.End, iv.Hosts = st.At, []string{a, b}
			iv.Label = fmt.Sprintf("reset every connection between %s and %s", a, b)
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
