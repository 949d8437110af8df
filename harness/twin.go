package harness

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// A checker is only as good as the bug it catches. The way to prove one is
// a buggy twin: a copy of the system with the bug, whose property must
// fail. A failing property fails the test it runs in, so the twin runs in
// a child process of the test binary, and the parent test asserts that it
// failed and how:
//
//	func TestTwinDoubleCharge(t *testing.T) {
//		if harness.Twin() != "double-charge" {
//			t.Skip("a buggy twin; run by TestCheckCatchesDoubleCharge")
//		}
//		harness.Check(t, paymentsProperty(noDedupe))
//	}
//
//	func TestCheckCatchesDoubleCharge(t *testing.T) {
//		res := harness.RunTwin(t, "TestTwinDoubleCharge", "double-charge")
//		if !res.Failed || !strings.Contains(res.Output, "applied 2 times") {
//			t.Fatalf("the twin was not caught:\n%s", res.Output)
//		}
//	}

// TwinEnv is the environment variable that tells a child process which
// twin it runs as.
const TwinEnv = "HEADWIND_TWIN"

// packageEnv tells a twin's process the package directory relative to the
// module root (it runs elsewhere), for the replay commands it prints.
const packageEnv = "HEADWIND_TWIN_PACKAGE"

// Twin returns the name of the twin this test process runs as, or "" in
// an ordinary run.
func Twin() string { return os.Getenv(TwinEnv) }

// TwinResult is what a twin's run printed and whether it failed.
type TwinResult struct {
	Output string // what the child printed, stdout and stderr
	Failed bool   // whether it exited with a failure
}

var rapidSeedRE = regexp.MustCompile(`-rapid\.seed=(\d+)`)

// RapidSeed returns the seed of rapid's "To reproduce" line in the output,
// or "" if there is none.
func (r TwinResult) RapidSeed() string {
	if m := rapidSeedRE.FindStringSubmatch(r.Output); m != nil {
		return m[1]
	}
	return ""
}

// RunTwin runs the test named test (a top-level test of the current
// package) in a child process of the test binary, with TwinEnv set to
// twin, rapid's failfiles off, and args appended to its command line (for
// example "-rapid.seed=…" or "-headwind.seed=…"). It returns what the
// child printed and whether it failed, and fails t only if the child
// could not run.
//
// The child runs in a temporary copy of the package directory's testdata
// (linked, not copied) without testdata/rapid, so that failfiles left by
// earlier manual runs are not replayed instead of the search; fuzz corpora
// and other test data stay where the test expects them.
func RunTwin(t testing.TB, test, twin string, args ...string) TwinResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^" + regexp.QuoteMeta(test) + "$", "-test.count=1", "-rapid.nofailfile"}, args...)...)
	cmd.Env = append(os.Environ(), TwinEnv+"="+twin, packageEnv+"="+packageDir())
	dir, err := twinDir(t)
	if err != nil {
		t.Fatalf("harness: running %s as twin %q: %v", test, twin, err)
	}
	cmd.Dir = dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("harness: running %s as twin %q: %v", test, twin, err)
	}
	return TwinResult{Output: buf.String(), Failed: err != nil}
}

// twinDir makes the working directory of a twin: a temporary directory
// whose testdata links to the package's, except testdata/rapid.
func twinDir(t testing.TB) (string, error) {
	pkg, err := os.Getwd()
	if err != nil {
		return "", err
	}
	dir := t.TempDir()
	entries, err := os.ReadDir(filepath.Join(pkg, "testdata"))
	if errors.Is(err, fs.ErrNotExist) {
		return dir, nil
	}
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(filepath.Join(dir, "testdata"), 0o755); err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Name() == "rapid" {
			continue
		}
		if err := os.Symlink(filepath.Join(pkg, "testdata", e.Name()), filepath.Join(dir, "testdata", e.Name())); err != nil {
			return "", err
		}
	}
	return dir, nil
}
