// Command demo shows headwind finding a real bug: it runs the exactly-once
// property of examples/kv on the service's buggy twin (a payment server
// without its dedupe table) under drawn faults and nemesis schedules,
// shows the failure being found and shrunk, prints the seed, the minimal
// fault schedule and the trace of the failing case as a message sequence,
// prints the command that replays it, then runs the correct service on the
// same seed and shows it pass.
//
//	go run ./examples/demo [-seed N] [-faults SPEC]
//
// -seed is rapid's seed for the search (the same seed, the same search);
// -faults bounds the faults drawn (faultconn.ParseProfile syntax). A
// property needs a synctest bubble, which only the test machinery can
// open, so the demo runs the properties with go test; it needs the Go
// toolchain and the headwind source, and exits 0 when everything behaved
// as described.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

const kvPkg = "github.com/headwind-go/headwind/examples/kv"

func main() {
	seed := flag.Uint64("seed", 1, "rapid's seed for the search")
	faults := flag.String("faults", "", "bounds of the faults drawn, in faultconn.ParseProfile syntax (default: harness.DefaultFaults)")
	flag.Parse()
	if err := run(os.Stdout, *seed, *faults); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// kvTests is the kv example's test binary, run outside the package's
// directory: rapid replays every failfile it finds under
// testdata/rapid/<test>/ before searching, even with -rapid.nofailfile
// (which only stops it writing them), so a failfile left there by a
// manual replay would replace the demo's search with that old case.
type kvTests struct {
	bin string // the compiled test binary
	dir string // its working directory: the package's testdata without testdata/rapid
}

// buildKV compiles the kv example's tests into tmp and prepares the
// directory they run in.
func buildKV(tmp string) (*kvTests, error) {
	k := &kvTests{bin: filepath.Join(tmp, "kv.test"), dir: filepath.Join(tmp, "run")}
	if out, err := exec.Command("go", "test", "-c", "-o", k.bin, kvPkg).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go test -c %s: %v\n%s", kvPkg, err, out)
	}
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", kvPkg).Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w", kvPkg, err)
	}
	if err := os.MkdirAll(filepath.Join(k.dir, "testdata"), 0o755); err != nil {
		return nil, err
	}
	testdata := filepath.Join(strings.TrimSpace(string(out)), "testdata")
	entries, err := os.ReadDir(testdata)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if e.Name() == "rapid" {
			continue
		}
		if err := os.Symlink(filepath.Join(testdata, e.Name()), filepath.Join(k.dir, "testdata", e.Name())); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// run runs the kv tests with the test binary's flags given (-test.run=…)
// and the twin given (or none), and returns the output and whether it
// failed.
func (k *kvTests) run(twin string, args ...string) (string, bool, error) {
	cmd := exec.Command(k.bin, append([]string{"-test.count=1"}, args...)...)
	cmd.Dir = k.dir
	cmd.Env = append(os.Environ(), "HEADWIND_TWIN="+twin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return "", false, fmt.Errorf("%s: %w", k.bin, err)
	}
	return out.String(), err != nil, nil
}

var (
	reVerdict  = regexp.MustCompile(`\[rapid\] failed after (\d+) tests: (.*)\n\s*(.*)`)
	reSeed     = regexp.MustCompile(`-rapid\.seed=(\d+)`)
	reFaults   = regexp.MustCompile(`headwind: case faults: (.*)`)
	reSchedule = regexp.MustCompile(`headwind: case schedule: (.*)`)
	reNemesis  = regexp.MustCompile(`nemesis did: (.*)`)
	reReplays  = regexp.MustCompile(`reproducible: (.*)`)
	reLinkName = regexp.MustCompile(`^([a-z0-9-]+):(\d+)->([a-z0-9-]+):(\d+)#(\d+)$`)
	rePass     = regexp.MustCompile(`(?m)^PASS$`)
	reKeyHost  = regexp.MustCompile(`key "([a-z0-9]+)-\d+" applied`)
)

func run(w io.Writer, seed uint64, faults string) error {
	start := time.Now()
	tmp, err := os.MkdirTemp("", "headwind-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintln(w, "headwind demo: a payment service that dedupes retried charges by their serial number,")
	fmt.Fprintln(w, "and its buggy twin that does not. Property: every payment is charged at most once,")
	fmt.Fprintln(w, "whatever the network does.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "1. Searching fault schedules for a double charge in the buggy twin (rapid seed %d) ...\n", seed)
	kv, err := buildKV(tmp)
	if err != nil {
		return err
	}
	args := []string{"-test.run=^TestTwinNoDedupe$", "-test.v", "-rapid.nofailfile", "-rapid.shrinktime=5s",
		fmt.Sprintf("-rapid.seed=%d", seed), "-rapid.checks=1000", "-headwind.trace=" + tmp}
	if faults != "" {
		args = append(args, "-headwind.faults="+faults)
	}
	out, failed, err := kv.run("no-dedupe", args...)
	if err != nil {
		return err
	}
	if !failed {
		return fmt.Errorf("the buggy twin passed; it should not have:\n%s", out)
	}
	v := reVerdict.FindStringSubmatch(out)
	sm := reSeed.FindStringSubmatch(out)
	if v == nil || sm == nil {
		return fmt.Errorf("no rapid verdict or seed in the twin's output:\n%s", out)
	}
	last := func(re *regexp.Regexp) string {
		all := re.FindAllStringSubmatch(out, -1)
		if len(all) == 0 {
			return "?"
		}
		return all[len(all)-1][1]
	}
	fmt.Fprintf(w, "   found after %s passing cases, and shrunk:\n", v[1])
	fmt.Fprintf(w, "   %s %s\n\n", strings.TrimSpace(v[2]), strings.TrimSpace(v[3]))
	fmt.Fprintln(w, "2. The minimal failing case:")
	fmt.Fprintf(w, "   rapid seed: %s\n", sm[1])
	fmt.Fprintf(w, "   faults:     %s\n", last(reFaults))
	fmt.Fprintf(w, "   schedule:   %s\n", last(reSchedule))
	fmt.Fprintf(w, "   nemesis:    %s\n", last(reNemesis))
	fmt.Fprintf(w, "   run again:  %s\n\n", last(reReplays))

	host := ""
	if m := reKeyHost.FindStringSubmatch(v[3]); m != nil {
		host = m[1]
	}
	fmt.Fprintf(w, "3. What happened to %s's connections, as a message sequence (from the case's trace):\n", host)
	if err := sequence(w, filepath.Join(tmp, "TestTwinNoDedupe-check.jsonl"), host); err != nil {
		return err
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "4. Replay it, bit for bit:")
	fmt.Fprintf(w, "   HEADWIND_TWIN=no-dedupe go test ./examples/kv -run '^TestTwinNoDedupe$' -rapid.seed=%s -rapid.nofailfile\n\n", sm[1])

	fmt.Fprintf(w, "5. The correct service on the same seed ...\n")
	args = []string{"-test.run=^TestExactlyOnce$", "-rapid.nofailfile", "-rapid.seed=" + sm[1]}
	if faults != "" {
		args = append(args, "-headwind.faults="+faults)
	}
	out, failed, err = kv.run("", args...)
	if err != nil {
		return err
	}
	if failed || !rePass.MatchString(out) {
		return fmt.Errorf("the correct service failed on seed %s:\n%s", sm[1], out)
	}
	fmt.Fprintf(w, "   PASS: 100 cases from rapid seed %s, the failing one first, no payment charged twice.\n\n", sm[1])
	fmt.Fprintf(w, "Done in %v.\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// event is one line of a trace written as JSON lines.
type event struct {
	TimeNS int64  `json:"time_ns"`
	Link   string `json:"link"`
	Dir    string `json:"dir"`
	Seq    uint64 `json:"seq"`
	Kind   string `json:"kind"`
	Size   int    `json:"size"`
}

// flight is one burst of segments on one direction of one connection:
// what was written at one instant, and what became of it.
type flight struct {
	link, dir                 string
	start, end                int64 // ns: first send, last event
	sent, delivered           int   // bytes
	segs, lost, retrans, dups int
	held, corrupt, blocked    int
	control                   string // "end of stream" or "reset", for flights of one control event
}

// maxSequence bounds the lines shown; the middle of a longer sequence is
// elided.
const maxSequence = 30

// sequence renders the trace at path as a message sequence between hosts,
// one line per burst of segments, keeping the links of host (all links if
// host is "").
func sequence(w io.Writer, path, host string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("the failing case's trace: %w", err)
	}
	defer f.Close()
	var flights []*flight
	open := map[string]*flight{} // the current flight of each link direction
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Link == "" {
			continue
		}
		if host != "" && !strings.HasPrefix(e.Link, host+":") {
			continue
		}
		key := e.Link + " " + e.Dir
		fl := open[key]
		switch e.Kind {
		case "send":
			if fl == nil || fl.start != e.TimeNS || fl.control != "" {
				fl = &flight{link: e.Link, dir: e.Dir, start: e.TimeNS}
				open[key] = fl
				flights = append(flights, fl)
			}
			fl.sent += e.Size
			fl.segs++
		case "fin", "reset":
			flights = append(flights, &flight{link: e.Link, dir: e.Dir, start: e.TimeNS, end: e.TimeNS, control: kindWords[e.Kind]})
			continue
		}
		if fl == nil {
			continue
		}
		fl.end = max(fl.end, e.TimeNS)
		switch e.Kind {
		case "deliver":
			fl.delivered += e.Size
		case "lose":
			fl.lost++
		case "block":
			fl.blocked++
		case "retransmit":
			fl.retrans++
		case "duplicate":
			fl.dups++
		case "reorder":
			fl.held++
		case "corrupt":
			fl.corrupt++
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(flights) == 0 {
		return errors.New("the failing case's trace has no events for " + host)
	}
	for i, fl := range flights {
		if len(flights) > maxSequence && i == maxSequence/2 {
			fmt.Fprintf(w, "   %10s   … %d more lines …\n", "", len(flights)-maxSequence)
		}
		if len(flights) > maxSequence && i >= maxSequence/2 && i < len(flights)-maxSequence/2 {
			continue
		}
		fmt.Fprintf(w, "   %s\n", render(fl))
	}
	return nil
}

var kindWords = map[string]string{"fin": "end of stream", "reset": "reset"}

func render(fl *flight) string {
	from, to, conn := fl.link, "", ""
	if m := reLinkName.FindStringSubmatch(fl.link); m != nil {
		from, to, conn = m[1], m[3], "conn "+m[5]
	}
	size := fmt.Sprintf("%dB", fl.sent)
	if fl.control != "" {
		size = ""
	}
	arrow := fmt.Sprintf("%s ──%6s──▶ %s", pad(from), size, pad(to))
	if fl.dir == "in" {
		arrow = fmt.Sprintf("%s ◀──%6s─── %s", pad(from), size, pad(to))
	}
	var what string
	switch {
	case fl.control != "":
		what = fl.control
	case fl.delivered >= fl.sent:
		what = fmt.Sprintf("arrived by %.3fs", float64(fl.end)/1e9)
	case fl.delivered > 0:
		what = fmt.Sprintf("only %dB arrived", fl.delivered)
	default:
		what = "never arrived"
	}
	var notes []string
	add := func(n int, s string) {
		if n > 0 {
			notes = append(notes, fmt.Sprintf("%d %s", n, s))
		}
	}
	add(fl.lost, "lost")
	add(fl.blocked, "lost in the partition")
	add(fl.corrupt, "corrupted")
	add(fl.retrans, "retransmitted")
	add(fl.dups, "duplicates discarded")
	add(fl.held, "held back")
	if len(notes) > 0 {
		what += " (" + strings.Join(notes, ", ") + ")"
	}
	return fmt.Sprintf("%8.3fs  %-7s %s %s", float64(fl.start)/1e9, conn, arrow, what)
}

func pad(s string) string { return fmt.Sprintf("%-8s", s) }
