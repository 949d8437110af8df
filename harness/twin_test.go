package harness_test

import (
	"regexp"
	"slices"
	"sync"
	"testing"

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
// double charge, print how to replay it, and the printed seed must
// reproduce the failure, with the same faults and schedule.
//
// Nothing here depends on a wall-clock budget: rapid's shrinking stops at
// a wall-clock deadline (-rapid.shrinktime), so how far it gets depends on
// the machine's load, and with it what the failure prints. Shrinking is
// turned off (-rapid.shrinktime=0: the deadline has passed before the
// first try), so the search and every replay print the case the seed
// draws, whatever the load.
func TestCheckCatchesDoubleApply(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the buggy twin in subprocesses")
	}
	// rapid's default 100 cases find it in most runs (median 6, at most 79
	// in 40 runs); 1000 make a miss too rare to flake.
	out, failed := runTwin(t, "double-apply", "TestTwinDoubleApply", "-rapid.shrinktime=0", "-rapid.checks=1000")
	require.True(t, failed, "the double-applying twin passed Check:\n%s", out)
	require.Regexp(t, `key "p\d+" applied [2-9] times`, out)
	require.Regexp(t, `failed after \d+ tests`, out)
	require.Contains(t, out, "headwind: FAILED case (network seed")
	require.Contains(t, out, "headwind: case schedule:")
	require.Contains(t, out, "nemesis did:")
	seed := harness.TwinResult{Output: out}.RapidSeed()
	require.NotEmpty(t, seed, "no -rapid.seed in the output:\n%s", out)
	caseLines := regexp.MustCompile(`headwind: case (faults|schedule): .*`)
	want := caseLines.FindAllString(out, -1)
	require.Len(t, want, 2, "the case's faults and schedule:\n%s", out)

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
			rout, rfailed := runTwin(t, "double-apply", "TestTwinDoubleApply", "-rapid.seed="+seed, "-rapid.checks=1", "-rapid.shrinktime=0")
			mu.Lock()
			defer mu.Unlock()
			if rfailed && regexp.MustCompile(`applied [2-9] times`).MatchString(rout) && slices.Equal(caseLines.FindAllString(rout, -1), want) {
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
