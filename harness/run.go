package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"

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
// which unblocks every goroutine still waiting on it.
//
// When the test fails, Run logs the seed, the faults, a go test command
// that replays the run, and the tail of the trace per link; with
// -headwind.trace=DIR it also writes the full trace there.
func Run(t *testing.T, body func(t *testing.T, n *netsim.Network)) {
	t.Helper()
	s, _, err := seed()
	if err != nil {
		t.Fatal(err)
	}
	p, spec, err := faults()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("headwind: seed %d (replay with -headwind.seed=%d)", s, s)
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(TraceLimit)
		n, err := netsim.New(netsim.Config{Seed: s, Default: p, Trace: tr})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			var dump string
			if t.Failed() {
				dump = strings.TrimSpace(n.Dump())
			}
			n.Close()
			if t.Failed() {
				t.Log(failureReport(t.Name(), fmt.Sprintf("%s-seed%d", t.Name(), s), s, spec, n, tr, []string{
					"replay: " + replayCommand(t.Name(), s, spec),
					"network when it failed:\n    " + strings.ReplaceAll(dump, "\n", "\n    "),
				}))
			}
		}()
		body(t, n)
	})
}

// replayCommand is the go test command that re-runs test name with seed.
func replayCommand(name string, seed uint64, spec string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	cmd := fmt.Sprintf("go test -run '%s' -headwind.seed=%d", strings.Join(parts, "/"), seed)
	if spec != "" {
		cmd += fmt.Sprintf(" -headwind.faults='%s'", spec)
	}
	return cmd
}

// tailPerLink is how many trace events per link a failure report shows,
// and maxLinks how many links.
const (
	tailPerLink = 12
	maxLinks    = 8
)

// failureReport says everything needed to understand and replay a failed
// run: seed, faults, the replay command, extra lines, the network's state
// and the tail of the trace per link.
// traceBase names the trace files: Run's are per seed; a Check case's are
// per test, so that the last failing case (rapid's minimal one, which it
// runs last) is the one left.
func failureReport(name, traceBase string, seed uint64, spec string, n *netsim.Network, tr *faultconn.Trace, extra []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "headwind: FAILED with seed %d\n", seed)
	shown := spec
	if shown == "" {
		shown = "none"
	}
	fmt.Fprintf(&b, "  faults: %s\n", shown)
	for _, l := range extra {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	if tr != nil {
		links := tr.Links()
		fmt.Fprintf(&b, "  trace: %d events kept, %d discarded, %d links\n", len(tr.Events()), tr.Overflow(), len(links))
		for i, l := range links {
			if i == maxLinks {
				fmt.Fprintf(&b, "  … %d more links\n", len(links)-maxLinks)
				break
			}
			fmt.Fprintf(&b, "  last events of %s:\n", l)
			for _, e := range tr.Tail(l, tailPerLink) {
				fmt.Fprintf(&b, "    %s\n", e)
			}
		}
		if dir := traceDir(); dir != "" {
			if files, err := writeTrace(dir, traceBase, tr); err != nil {
				fmt.Fprintf(&b, "  trace not written: %v\n", err)
			} else {
				fmt.Fprintf(&b, "  full trace: %s\n", strings.Join(files, ", "))
			}
		}
	}
	return b.String()
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
