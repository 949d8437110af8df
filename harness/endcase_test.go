package harness_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// idleTimer is a goroutine that ends on its own timer, 30s later: like a
// quic-go conn on its idle timeout, or a probe Shutdown does not wait for.
func idleTimer() { time.Sleep(30 * time.Second) }

// TestTwinLeftover leaves idleTimer running when the body returns, under
// Check ("leftover", "leftover-fails" that also fails on its own,
// "leftover-winddown" that lets it end) or Run ("leftover-run"). It runs
// only as a subprocess of TestLeftoverGoroutines.
func TestTwinLeftover(t *testing.T) {
	twin := harness.Twin()
	property := func(t *harness.T) {
		go idleTimer()
		if twin == "leftover-fails" {
			t.Fatalf("the property's own failure: %d", 42)
		}
	}
	switch twin {
	case "leftover", "leftover-fails":
		harness.CheckWith(t, harness.Options{MaxSteps: -1}, property)
	case "leftover-winddown":
		harness.CheckWith(t, harness.Options{MaxSteps: -1, WindDown: 30 * time.Second}, property)
	case "leftover-run":
		harness.Run(t, func(t *testing.T, n *netsim.Network) { go idleTimer() })
	default:
		t.Skip("leaves goroutines blocked on purpose; runs only as a subprocess of TestLeftoverGoroutines")
	}
}

// TestLeftoverGoroutines: goroutines still blocked when the body returns
// are listed with their stacks, and the property's own failure stays the
// headline; WindDown lets them end.
func TestLeftoverGoroutines(t *testing.T) {
	listed := `harness: 1 goroutine still blocked when the (property|test body) returned and the network was closed ` +
		`[^\n]*\n\s+goroutine \d+ \[sleep \(durable\)\]:\n(\s+.*\n)*?\s+github.com/headwind-go/headwind/harness_test\.idleTimer\(`

	r := harness.RunTwin(t, "TestTwinLeftover", "leftover-fails")
	require.True(t, r.Failed, r.Output)
	require.Regexp(t, `\[rapid\] failed after 0 tests: the property's own failure: 42\n`, r.Output)
	require.Regexp(t, listed, r.Output)
	require.NotContains(t, r.Output, "blocked goroutines remain")

	r = harness.RunTwin(t, "TestTwinLeftover", "leftover")
	require.True(t, r.Failed, r.Output)
	require.Regexp(t, `\[rapid\] panic after 0 tests: harness: 1 goroutine still blocked when the property returned: `+
		`\[sleep \(durable\)\] in github.com/headwind-go/headwind/harness_test\.idleTimer\n`, r.Output)
	require.Regexp(t, listed, r.Output)

	r = harness.RunTwin(t, "TestTwinLeftover", "leftover-winddown")
	require.False(t, r.Failed, r.Output)

	r = harness.RunTwin(t, "TestTwinLeftover", "leftover-run")
	require.True(t, r.Failed, r.Output)
	require.Regexp(t, listed, r.Output)
	require.NotContains(t, r.Output, "panic:")
}
