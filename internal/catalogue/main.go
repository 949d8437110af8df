// Command catalogue measures how quickly harness.Check finds each planted
// bug (a buggy twin) of headwind's tests and examples: for every twin it
// builds the test binary of the twin's package once, runs the twin's test
// with rapid seeds 1 to -runs, with swarm testing on and then off for
// each seed, and prints a markdown table of the number of cases (the
// failing one included) and the wall time each run took. It is a
// measurement, not a test: nothing asserts a timing.
//
// Run it from the module's root:
//
//	go run ./internal/catalogue            # every twin, 20 seeds
//	go run ./internal/catalogue -runs=5 -twins=no-dedupe,no-fencing
//
// Each run is a process of its own, timed from its start to its exit, in
// the twin's package directory, with -rapid.checks=-checks,
// -rapid.shrinktime=0 (shrinking stops at a wall-clock deadline, so it is
// left out) and -rapid.nofailfile, with HEADWIND_TWIN set to the twin and
// HEADWIND_SWARM to on or off, and every other HEADWIND_ and RAPID_
// variable removed. A run that passes all its checks is counted as not
// found.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// twin is one planted bug: the test that checks the buggy twin's property,
// in the package pkg, run when HEADWIND_TWIN is name.
type twin struct {
	name, pkg, test, bug string
}

var twins = []twin{
	{"double-apply", "harness", "TestTwinDoubleApply", "a payment service without dedupe: a retried charge is applied twice"},
	{"parallel-double-apply", "harness", "TestTwinParallelDoubleApply", "a payment service without dedupe, its clients dialing in parallel from one host"},
	{"slow-link", "harness", "TestTwinSlowLink", "a payment service without dedupe, under a user-defined nemesis step (a slow link) only"},
	{"no-dedupe", "examples/kv", "TestTwinNoDedupe", "kv server without its dedupe table: a retried charge is applied twice"},
	{"linearizable-no-dedupe", "examples/kv", "TestTwinLinearizableNoDedupe", "kv server without its dedupe table, under the linearizability checker: a retried put lands after later puts"},
	{"forget-serials", "examples/kv", "TestTwinForgetSerials", "dedupe table in memory only: a retry after a crash and restart is charged again"},
	{"no-fencing", "examples/lease", "TestTwinNoFencing", "storage ignores fencing tokens: a paused lease holder's stale write is accepted"},
	{"no-idempotency-key", "examples/httpretry", "TestTwinNoIdempotencyKey", "net/http server ignores idempotency keys: a retried request executes twice"},
	{"non-idempotent-compensation", "examples/saga", "TestTwinNonIdempotentCompensation", "a retried cancellation refunds again"},
}

// verdict is rapid's line for a failed property: N cases passed before the
// failing one.
var verdict = regexp.MustCompile(`\[rapid\] failed after (\d+) tests`)

// run is one run of a twin: cases is the number of cases up to and
// including the failing one, 0 if the twin was not found.
type run struct {
	cases int
	wall  time.Duration
}

func main() {
	if err := catalogue(); err != nil {
		fmt.Fprintln(os.Stderr, "catalogue:", err)
		os.Exit(1)
	}
}

func catalogue() error {
	runs := flag.Int("runs", 20, "rapid seeds 1 to runs, each with swarm on and off")
	checks := flag.Int("checks", 2000, "-rapid.checks of each run")
	only := flag.String("twins", "", "comma-separated twin names to measure (default: all)")
	flag.Parse()
	if *runs < 1 || *checks < 1 {
		return fmt.Errorf("-runs %d and -checks %d: both must be at least 1", *runs, *checks)
	}
	selected := twins
	if *only != "" {
		selected = nil
		for name := range strings.SplitSeq(*only, ",") {
			i := slices.IndexFunc(twins, func(t twin) bool { return t.name == name })
			if i < 0 {
				return fmt.Errorf("-twins: unknown twin %q", name)
			}
			selected = append(selected, twins[i])
		}
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "harness")); err != nil {
		return fmt.Errorf("run it from the module's root: %v", err)
	}
	bin, err := os.MkdirTemp("", "catalogue")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)

	fmt.Printf("`go run ./internal/catalogue -runs=%d -checks=%d`: rapid seeds 1 to %d, `-rapid.checks=%d -rapid.shrinktime=0`. Cases include the failing one; wall time is the test process's, start to exit.\n\n", *runs, *checks, *runs, *checks)
	fmt.Printf("| twin (`HEADWIND_TWIN`) | package | the bug | cases, median (swarm on / off) | cases, max (on / off) | wall, median (on / off) | wall, max (on / off) | found of %d (on / off) | found in ≤ 100 cases, rapid's default (on / off) |\n", *runs)
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, tw := range selected {
		dir := filepath.Join(root, tw.pkg)
		if fails, _ := filepath.Glob(filepath.Join(dir, "testdata", "rapid", tw.test, "*.fail")); len(fails) > 0 {
			return fmt.Errorf("%s: rapid would replay %s before searching; remove it", tw.name, fails[0])
		}
		exe := filepath.Join(bin, strings.ReplaceAll(tw.pkg, "/", "_")+".test")
		if _, err := os.Stat(exe); err != nil {
			if out, err := exec.Command("go", "test", "-c", "-o", exe, "./"+tw.pkg).CombinedOutput(); err != nil {
				return fmt.Errorf("building %s: %v\n%s", tw.pkg, err, out)
			}
		}
		var on, off []run
		for seed := 1; seed <= *runs; seed++ {
			for _, swarm := range []string{"on", "off"} {
				r, err := measure(exe, dir, tw, swarm, seed, *checks)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%s seed %d swarm %s: %d cases, %v\n", tw.name, seed, swarm, r.cases, r.wall.Round(time.Millisecond))
				if swarm == "on" {
					on = append(on, r)
				} else {
					off = append(off, r)
				}
			}
		}
		fmt.Printf("| `%s` | `%s` | %s | %s / %s | %s / %s | %s / %s | %s / %s | %d / %d | %d / %d |\n",
			tw.name, tw.pkg, tw.bug,
			medianCases(on, *checks), medianCases(off, *checks), maxCases(on, *checks), maxCases(off, *checks),
			seconds(medianWall(on)), seconds(medianWall(off)), seconds(maxWall(on)), seconds(maxWall(off)),
			within(on, *checks), within(off, *checks), within(on, 100), within(off, 100))
	}
	return nil
}

// measure runs tw's test once, with the rapid seed and swarm setting
// given, and reports the cases it took (0 if it passed) and its wall time.
// A run that fails without rapid's verdict (a build error, a panic, a
// stall) is an error, with its output.
func measure(exe, dir string, tw twin, swarm string, seed, checks int) (run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.v", "-test.run=^"+tw.test+"$",
		"-rapid.seed="+strconv.Itoa(seed), "-rapid.checks="+strconv.Itoa(checks),
		"-rapid.shrinktime=0", "-rapid.nofailfile")
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HEADWIND_") && !strings.HasPrefix(kv, "RAPID_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HEADWIND_TWIN="+tw.name, "HEADWIND_SWARM="+swarm)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	r := run{wall: time.Since(start)}
	if m := verdict.FindSubmatch(out.Bytes()); m != nil {
		n, _ := strconv.Atoi(string(m[1]))
		r.cases = n + 1
		return r, nil
	}
	if err != nil || !bytes.Contains(out.Bytes(), []byte("--- PASS: "+tw.test+" ")) {
		return r, fmt.Errorf("%s seed %d swarm %s: neither a rapid verdict nor a pass (%v):\n%s", tw.name, seed, swarm, err, out.Bytes())
	}
	return r, nil
}

// medianCases is the median number of cases over every run, a run that
// did not find the twin counting as more than checks.
func medianCases(rs []run, checks int) string {
	c := make([]float64, len(rs))
	for i, r := range rs {
		c[i] = float64(r.cases)
		if r.cases == 0 {
			c[i] = math.Inf(1)
		}
	}
	m := median(c)
	if math.IsInf(m, 1) {
		return "> " + strconv.Itoa(checks)
	}
	return strconv.FormatFloat(m, 'f', -1, 64)
}

// maxCases is the most cases a run took, or "> checks" if some run did
// not find the twin.
func maxCases(rs []run, checks int) string {
	m := 0
	for _, r := range rs {
		if r.cases == 0 {
			return "> " + strconv.Itoa(checks)
		}
		m = max(m, r.cases)
	}
	return strconv.Itoa(m)
}

// within counts the runs that found the twin in at most n cases.
func within(rs []run, n int) int {
	k := 0
	for _, r := range rs {
		if r.cases > 0 && r.cases <= n {
			k++
		}
	}
	return k
}

// medianWall is the median wall time of every run, found or not.
func medianWall(rs []run) float64 {
	w := make([]float64, len(rs))
	for i, r := range rs {
		w[i] = r.wall.Seconds()
	}
	return median(w)
}

func maxWall(rs []run) float64 {
	m := 0.0
	for _, r := range rs {
		m = max(m, r.wall.Seconds())
	}
	return m
}

func median(x []float64) float64 {
	slices.Sort(x)
	n := len(x)
	if n%2 == 1 {
		return x[n/2]
	}
	return (x[n/2-1] + x[n/2]) / 2
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) + " s" }
