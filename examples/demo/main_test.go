package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// replayRE finds the replay command the demo prints.
var replayRE = regexp.MustCompile(`(?m)^   (HEADWIND_TWIN=no-dedupe go test \./examples/kv .*)$`)

// TestDemo runs the demo as go run would and checks that it shows what it
// promises: the bug found and shrunk, the seed, the minimal case, the
// message sequence, the replay command, and the correct service passing.
// Then it runs the printed replay command from the module root, as a user
// would paste it, and checks that it reproduces the double charge; run
// without -rapid.nofailfile, the replay leaves a rapid failfile in
// examples/kv/testdata/rapid, and the demo must still work after that.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test in subprocesses")
	}
	out := demo(t)
	for _, want := range []string{
		`found after \d+ passing cases, and shrunk`,
		`key "pos\d+-\d+" applied 2 times`,
		`(?m)^   rapid seed: +\d+$`,
		`(?m)^   faults: +\S`,
		`(?m)^   schedule: +\S`,
		`(?m)^   run again: +replays identically \(`,
		`What happened to pos\d+'s connections`,
		`conn \d+ +pos\d+ +──`,
		`HEADWIND_TWIN=no-dedupe go test ./examples/kv -run '\^TestTwinNoDedupe\$' -rapid.seed=\d+ -rapid.nofailfile`,
		`PASS: 100 cases from rapid seed \d+`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("the demo's output lacks %s:\n%s", want, out)
		}
	}
	m := replayRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no replay command in the demo's output:\n%s", out)
	}

	// The replay as printed, and once more leaving its failfile behind.
	failfiles := filepath.Join("..", "kv", "testdata", "rapid", "TestTwinNoDedupe")
	before, _ := filepath.Glob(filepath.Join(failfiles, "*.fail"))
	t.Cleanup(func() {
		after, _ := filepath.Glob(filepath.Join(failfiles, "*.fail"))
		for _, f := range after {
			if !slices.Contains(before, f) {
				os.Remove(f)
			}
		}
		os.Remove(failfiles) // only if empty
		os.Remove(filepath.Dir(failfiles))
		os.Remove(filepath.Dir(filepath.Dir(failfiles)))
	})
	for _, cmd := range []string{m[1], strings.TrimSuffix(m[1], " -rapid.nofailfile")} {
		replay, failed := shell(t, cmd)
		if !failed || !regexp.MustCompile(`key "pos\d+-\d+" applied 2 times`).MatchString(replay) {
			t.Fatalf("the printed replay command %q did not reproduce the double charge:\n%s", cmd, replay)
		}
	}
	after, _ := filepath.Glob(filepath.Join(failfiles, "*.fail"))
	if len(after) == len(before) {
		t.Fatalf("the replay without -rapid.nofailfile left no failfile in %s", failfiles)
	}
	if again := demo(t); !strings.Contains(again, "PASS: 100 cases") {
		t.Fatalf("the demo after a leftover failfile:\n%s", again)
	}
}

func demo(t *testing.T) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(&out, 1, ""); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	return out.String()
}

// shell runs cmd with sh from the module root, as a user pastes it.
func shell(t *testing.T, cmd string) (string, bool) {
	t.Helper()
	c := exec.Command("sh", "-c", cmd)
	c.Dir = filepath.Join("..", "..")
	out, err := c.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", cmd, err)
	}
	return string(out), err != nil
}
