package harness_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
)

// replayLineRE finds the replay command of a failure report.
var replayLineRE = regexp.MustCompile(`(?m)^\s+replay: (HEADWIND_TWIN=\S+ go test \./harness .*?)(?: \(the input is (\S+)\))?$`)

// runFromRoot runs a printed command with sh from the module root, as a
// user pastes it.
func runFromRoot(t *testing.T, cmd string) (string, bool) {
	t.Helper()
	c := exec.Command("sh", "-c", cmd+" -count=1")
	c.Dir = ".."
	out, err := c.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", cmd, err)
	}
	return string(out), err != nil
}

// TestReplayCommandsReplay executes every replay command the harness
// prints, from the module root, and checks that each reproduces its
// failure: Run's (-headwind.seed), Check's (the failfile rapid wrote) and
// Fuzz's (the corpus file).
func TestReplayCommandsReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test in subprocesses")
	}
	// Run.
	r := harness.RunTwin(t, "TestTwinRunTraffic", "run-fails", "-headwind.faults=latency=10ms loss=5%")
	require.True(t, r.Failed, r.Output)
	m := replayLineRE.FindStringSubmatch(r.Output)
	require.NotNil(t, m, r.Output)
	out, failed := runFromRoot(t, m[1])
	require.True(t, failed, "%s\n%s", m[1], out)
	require.Contains(t, out, "failing on purpose after")

	// Check, as a user runs it: in the package directory, leaving the
	// failfile its replay command names.
	dir := filepath.Join("testdata", "rapid", "TestTwinDoubleApply")
	t.Cleanup(func() {
		os.RemoveAll(dir)
		os.Remove(filepath.Dir(dir)) // only if empty
	})
	cmd := exec.Command(os.Args[0], "-test.run=^TestTwinDoubleApply$", "-test.count=1", "-rapid.checks=1000", "-rapid.shrinktime=1s")
	cmd.Env = append(os.Environ(), harness.TwinEnv+"=double-apply")
	b, _ := cmd.CombinedOutput()
	m = replayLineRE.FindStringSubmatch(string(b))
	require.NotNil(t, m, "%s", b)
	require.Regexp(t, `-rapid\.failfile=testdata/rapid/TestTwinDoubleApply/TestTwinDoubleApply-\d+-\d+\.fail$`, m[1])
	out, failed = runFromRoot(t, m[1])
	require.True(t, failed, "%s\n%s", m[1], out)
	require.Regexp(t, `key "p\d+" applied [2-9] times`, out)

	// Fuzz: the crasher in the corpus.
	r = harness.RunTwin(t, "FuzzTwinDoubleApply", "double-apply")
	require.True(t, r.Failed, r.Output)
	m = replayLineRE.FindStringSubmatch(r.Output)
	require.NotNil(t, m, r.Output)
	require.Regexp(t, `^harness/testdata/fuzz/FuzzTwinDoubleApply/[0-9a-f]{16}$`, m[2])
	require.FileExists(t, filepath.Join("..", m[2]))
	out, failed = runFromRoot(t, m[1])
	require.True(t, failed, "%s\n%s", m[1], out)
	require.Contains(t, out, "applied 2 times")
}

// TestTwinRequire fails through testify's require, which calls Errorf and
// then FailNow.
func TestTwinRequire(t *testing.T) {
	if harness.Twin() != "require" {
		t.Skip("runs only as a subprocess of TestRequireHeadline")
	}
	harness.CheckWith(t, harness.Options{MaxSteps: -1}, func(t *harness.T) {
		require.Equal(t, 1, 2, "the violation")
	})
}

// TestRequireHeadline: with require, rapid's headline is the violation,
// not "(*T).FailNow() called".
func TestRequireHeadline(t *testing.T) {
	r := harness.RunTwin(t, "TestTwinRequire", "require")
	require.True(t, r.Failed, r.Output)
	require.Regexp(t, `\[rapid\] failed after 0 tests: \n?\s*Error Trace:[\s\S]*Messages:\s+the violation`, r.Output)
	require.NotContains(t, r.Output, "FailNow() called")
}
