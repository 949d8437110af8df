package harness_test

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runTwin runs the test named test of this package's test binary in a
// subprocess with HEADWIND_TWIN=twin and the given extra flags, and returns
// its combined output and whether it failed. A buggy twin's property must
// fail, and failing is what this binary must not do to the parent test, so
// it runs apart.
func runTwin(t *testing.T, twin, test string, args ...string) (out string, failed bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^" + test + "$", "-test.count=1", "-rapid.nofailfile"}, args...)...)
	cmd.Env = append(os.Environ(), "HEADWIND_TWIN="+twin)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("running %s: %v", test, err)
		}
	}
	return buf.String(), err != nil
}

var rapidSeed = regexp.MustCompile(`-rapid\.seed=(\d+)`)

// TestCheckCatchesDoubleApply proves Check on the buggy twin of the payment
// service, which charges a retried payment twice: Check must find the
// double charge within rapid's default 100 cases, print how to replay it,
// and the printed seed must reproduce the failure.
func TestCheckCatchesDoubleApply(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the buggy twin in subprocesses")
	}
	start := time.Now()
	// Shrinking is bounded so that the race detector's slowdown cannot
	// stretch the test; without it, catching and shrinking takes well
	// under a second here.
	out, failed := runTwin(t, "double-apply", "TestTwinDoubleApply", "-rapid.shrinktime=3s")
	elapsed := time.Since(start)
	require.True(t, failed, "the double-applying twin passed Check:\n%s", out)
	require.Regexp(t, `key "p\d+" applied 2 times`, out)
	require.Regexp(t, `failed after \d+ tests`, out)
	require.Contains(t, out, "headwind: FAILED with seed")
	require.Contains(t, out, "headwind: case schedule:")
	require.Contains(t, out, "nemesis did:")
	m := rapidSeed.FindStringSubmatch(out)
	require.NotNil(t, m, "no -rapid.seed in the output:\n%s", out)
	t.Logf("caught and shrunk in %v (wall, including the subprocess start)", elapsed)

	// Replay the printed seed 20 times, two at a time.
	const replays = 20
	var mu sync.Mutex
	reproduced := 0
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for range replays {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rout, rfailed := runTwin(t, "double-apply", "TestTwinDoubleApply", "-rapid.seed="+m[1], "-rapid.checks=1", "-rapid.shrinktime=1ms")
			if rfailed && regexp.MustCompile(`applied 2 times`).MatchString(rout) {
				mu.Lock()
				reproduced++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.GreaterOrEqual(t, reproduced, replays-1, "the printed seed reproduced the failure in %d of %d replays", reproduced, replays)
}
