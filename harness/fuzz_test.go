package harness_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
)

// FuzzPayments fuzzes the payment service's exactly-once property: the
// same property Check runs, on fault schedules the fuzzer chooses.
func FuzzPayments(f *testing.F) {
	harness.Fuzz(f, payProperty(true))
}

// FuzzTwinDoubleApply is the fuzz target of the buggy twin that charges a
// retried payment twice. Its corpus holds the crasher go test -fuzz found;
// TestFuzzCrasherReplays proves that it replays as an ordinary test.
func FuzzTwinDoubleApply(f *testing.F) {
	if harness.Twin() != "double-apply" {
		f.Skip("a buggy twin; runs only as a subprocess of TestFuzzCrasherReplays")
	}
	harness.Fuzz(f, payProperty(false))
}

// TestFuzzCrasherReplays proves that the crasher go test -fuzz found for
// the double-charging twin (testdata/fuzz/FuzzTwinDoubleApply) replays as
// an ordinary go test run, deterministically, with the decoded faults and
// schedule in the output, and the harness's own replay of it agreeing.
func TestFuzzCrasherReplays(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the buggy twin in subprocesses")
	}
	const replays = 20
	for i := range replays {
		r := harness.RunTwin(t, "FuzzTwinDoubleApply", "double-apply")
		if !r.Failed || !strings.Contains(r.Output, "applied 2 times") {
			t.Fatalf("replay %d of the fuzz crasher did not fail with a double charge:\n%s", i, r.Output)
		}
		if i == 0 {
			for _, want := range []string{"headwind: case faults:", "headwind: case schedule:", "nemesis did:", `FuzzTwinDoubleApply/[0-9a-f]{16}`,
				// The input runs once more and replays.
				`reproducible: replays identically \(the harness ran the case once more: the same \d+ trace events, and it failed again\)`} {
				if !regexp.MustCompile(want).MatchString(r.Output) {
					t.Errorf("the replay's output lacks %q:\n%s", want, r.Output)
				}
			}
		}
	}
}

// TestFuzzFailureFiles: a failing fuzz input gets a timeline page and a
// failure.json like a Check case, whose replay command, run as written
// from the module root, runs that input (named in its input field) and
// fails the same way.
func TestFuzzFailureFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the buggy twin in subprocesses")
	}
	dir := t.TempDir()
	r := harness.RunTwin(t, "FuzzTwinDoubleApply", "double-apply", "-headwind.trace="+dir)
	require.True(t, r.Failed, r.Output)
	reports, err := filepath.Glob(filepath.Join(dir, "FuzzTwinDoubleApply_*-check.failure.json"))
	require.NoError(t, err)
	require.NotEmpty(t, reports, r.Output)
	b, err := os.ReadFile(reports[0])
	require.NoError(t, err)
	var f harness.Failure
	require.NoError(t, json.Unmarshal(b, &f))
	require.Equal(t, "check", f.Kind)
	require.Contains(t, f.Violation, "applied 2 times")
	require.Regexp(t, `^harness/testdata/fuzz/FuzzTwinDoubleApply/[0-9a-f]{16}$`, f.Input)
	require.FileExists(t, filepath.Join("..", f.Input))
	require.Equal(t, "HEADWIND_TWIN=double-apply go test ./harness -run '^FuzzTwinDoubleApply$/^"+filepath.Base(f.Input)+"$'", f.Replay)
	page := strings.TrimSuffix(reports[0], ".failure.json") + ".timeline.html"
	require.FileExists(t, page)
	require.Contains(t, f.Files, page)

	cmd := exec.Command("sh", "-c", f.Replay)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "HEADWIND_TWIN=")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the replay fails:\n%s", out)
	require.Contains(t, string(out), "applied 2 times")
	require.Contains(t, string(out), "--- FAIL: FuzzTwinDoubleApply/"+filepath.Base(f.Input))
}
