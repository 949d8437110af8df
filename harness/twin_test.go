package harness_test

import (
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
)

// runTwin runs a twin test in a subprocess (see harness.RunTwin).
func runTwin(t *testing.T, twin, test string, args ...string) (out string, failed bool) {
	t.Helper()
	r := harness.RunTwin(t, test, twin, args...)
	return r.Output, r.Failed
}

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
	// rapid's default 100 cases find it in most runs (median 6, at most 79
	// in 40 runs); 1000 make a miss too rare to flake.
	out, failed := runTwin(t, "double-apply", "TestTwinDoubleApply", "-rapid.shrinktime=3s", "-rapid.checks=1000")
	elapsed := time.Since(start)
	require.True(t, failed, "the double-applying twin passed Check:\n%s", out)
	require.Regexp(t, `key "p\d+" applied 2 times`, out)
	require.Regexp(t, `failed after \d+ tests`, out)
	require.Contains(t, out, "headwind: FAILED case (network seed")
	require.Contains(t, out, "headwind: case schedule:")
	require.Contains(t, out, "nemesis did:")
	seed := harness.TwinResult{Output: out}.RapidSeed()
	require.NotEmpty(t, seed, "no -rapid.seed in the output:\n%s", out)
	t.Logf("caught and shrunk in %v (wall, including the subprocess start)", elapsed)

	// Replay the printed seed 20 times, two at a time.
	const replays = 20
	var mu sync.Mutex
	reproduced := 0
	var sample string // one replay's output, for the failure message
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for range replays {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rout, rfailed := runTwin(t, "double-apply", "TestTwinDoubleApply", "-rapid.seed="+seed, "-rapid.checks=1", "-rapid.shrinktime=1ms")
			mu.Lock()
			defer mu.Unlock()
			if rfailed && regexp.MustCompile(`applied 2 times`).MatchString(rout) {
				reproduced++
			} else {
				sample = rout
			}
		}()
	}
	wg.Wait()
	if reproduced < replays-1 {
		t.Logf("the search's output:\n%s\none replay's output:\n%s", out, sample)
	}
	require.GreaterOrEqual(t, reproduced, replays-1, "the printed seed reproduced the failure in %d of %d replays", reproduced, replays)
}
