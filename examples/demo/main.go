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
	"bytes"
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

	"github.com/headwind-go/headwind/faultconn"
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

// sequence writes the trace at path as a message-sequence chart of
// host's connections (all of them if host is "").
func sequence(w io.Writer, path, host string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("the failing case's trace: %w", err)
	}
	defer f.Close()
	events, _, err := faultconn.ReadJSON(f, 0)
	if err != nil {
		return err
	}
	return faultconn.WriteSequence(w, events, faultconn.SequenceOptions{Host: host, Indent: "   "})
}
