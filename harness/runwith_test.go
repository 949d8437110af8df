package harness_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// TestRunWith: the options set the seed, the default profile, the mode and
// the window of the network, and WindDown runs before it closes.
func TestRunWith(t *testing.T) {
	if os.Getenv("HEADWIND_SEED") != "" || flag.Lookup("headwind.seed").Value.String() != "" {
		t.Skip("asserts the seed set in the options; -headwind.seed wins over it")
	}
	p := faultconn.Profile{Latency: 50 * time.Millisecond}
	var ended time.Duration
	harness.RunWith(t, harness.RunOptions{Seed: 0, FixedSeed: true, Default: p, Mode: faultconn.Segments, Window: 4096,
		WindDown: time.Second}, func(t *testing.T, n *netsim.Network) {
		cfg := n.Config()
		require.Equal(t, uint64(0), cfg.Seed)
		require.Equal(t, p, cfg.Default)
		require.Equal(t, faultconn.Segments, cfg.Mode)
		require.Equal(t, 4096, cfg.Window)
		start := time.Now()
		go func() {
			<-n.Done()
			ended = time.Since(start)
		}()
		c := echoOnce(t, n)
		require.Equal(t, 100*time.Millisecond, time.Since(start))
		c.Close()
		start = time.Now()
	})
	require.Equal(t, time.Second, ended, "the network closed before the wind-down")
}

// TestRunWithInvalidOptions: bad options fail the test, naming the field.
func TestRunWithInvalidOptions(t *testing.T) {
	r := harness.RunTwin(t, "TestTwinRunWithInvalid", "runwith-invalid")
	require.True(t, r.Failed, r.Output)
	require.Contains(t, r.Output, "harness: RunOptions.Mode 7 out of range [0,1] (Stream, Segments)")
	require.Contains(t, r.Output, "harness: RunOptions.WindDown -1s out of range [0,∞)")
}

func TestTwinRunWithInvalid(t *testing.T) {
	if harness.Twin() != "runwith-invalid" {
		t.Skip("fails on purpose; runs only as a subprocess of TestRunWithInvalidOptions")
	}
	harness.RunWith(t, harness.RunOptions{Mode: 7, WindDown: -time.Second}, func(*testing.T, *netsim.Network) {})
}

// TestRunTwinIgnoresFailfiles: a failfile left in testdata/rapid by an
// earlier run is not replayed by RunTwin's child, which searches from
// rapid's seed as asked (and so prints -rapid.seed, not the failfile).
func TestRunTwinIgnoresFailfiles(t *testing.T) {
	dir := filepath.Join("testdata", "rapid", "TestTwinFailfile")
	t.Cleanup(func() {
		os.RemoveAll(dir)
		os.Remove(filepath.Dir(dir)) // only if empty
	})
	// A run in the package's directory, as a user's go test, leaves one.
	cmd := exec.Command(os.Args[0], "-test.run=^TestTwinFailfile$", "-test.count=1")
	cmd.Env = append(os.Environ(), harness.TwinEnv+"=failfile")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "%s", out)
	files, _ := filepath.Glob(filepath.Join(dir, "*.fail"))
	require.Len(t, files, 1, "%s", out)

	r := harness.RunTwin(t, "TestTwinFailfile", "failfile")
	require.True(t, r.Failed, r.Output)
	require.Contains(t, r.Output, "-rapid.seed=")
	require.NotContains(t, r.Output, "-rapid.failfile=", "the child replayed the leftover failfile")
}

// TestTwinFailfile always fails.
func TestTwinFailfile(t *testing.T) {
	if harness.Twin() != "failfile" {
		t.Skip("runs only as a subprocess of TestRunTwinIgnoresFailfiles")
	}
	harness.CheckWith(t, harness.Options{MaxSteps: -1}, func(t *harness.T) { t.Fatal("failing on purpose") })
}

// TestSuiteFaultsEnv runs the README's suite-wide form,
// HEADWIND_FAULTS=… go test ./..., on a package that does not import
// harness (faultconn) and on one that does: the first must not fail, the
// second must see the faults. (The flag form fails with "flag provided
// but not defined" in packages that do not import harness, which is why
// the README documents only the environment.)
func TestSuiteFaultsEnv(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test in a subprocess")
	}
	const spec = "latency=200ms bandwidth=64KiB/s"
	cmd := exec.Command("go", "test", "-count=1", "./faultconn", "./harness", "-run", "^TestTwinSuiteFaults$", "-v")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "HEADWIND_FAULTS="+spec, harness.TwinEnv+"=suite-faults")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: TestTwinSuiteFaults")
	require.Contains(t, string(out), "default profile "+spec)
	require.Equal(t, 2, strings.Count(string(out), "\nok  "), "%s", out)
}

func TestTwinSuiteFaults(t *testing.T) {
	if harness.Twin() != "suite-faults" {
		t.Skip("runs only as a subprocess of TestSuiteFaultsEnv")
	}
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		t.Logf("default profile %v", n.Config().Default)
	})
}
