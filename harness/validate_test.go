package harness_test

import (
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// A Duration so long that the heal's instant (Duration plus the nemesis
// offset) overflowed used to be accepted, and the heal ran at a negative
// time, at once.
func TestOptionsDurationAboveMax(t *testing.T) {
	for _, d := range []time.Duration{harness.MaxDuration + 1, math.MaxInt64} {
		err := harness.FindNondeterminism(t, harness.Options{Duration: d, MaxSteps: -1}, 1, func(*harness.T) {})
		require.ErrorContains(t, err, "harness: Options.Duration "+d.String()+" out of range [0,24h0m0s] (0 means 10s)")
	}
	err := harness.FindNondeterminism(t, harness.Options{Duration: harness.MaxDuration, MaxSteps: -1}, 1, func(*harness.T) {})
	require.NoError(t, err)
}

// A Faults bound whose drawn latency, with the offset on top, would pass
// faultconn.MaxLatency is refused up front, not by every case's network.
func TestOptionsFaultsLatencyAboveMax(t *testing.T) {
	err := harness.FindNondeterminism(t, harness.Options{Faults: faultconn.Profile{Latency: faultconn.MaxLatency}}, 1, func(*harness.T) {})
	require.ErrorContains(t, err, "harness: Options.Faults.Latency 24h0m0s out of range [0,23h59m59.999s]")
	err = harness.FindNondeterminism(t, harness.Options{Faults: faultconn.Profile{Latency: 25 * time.Hour}}, 1, func(*harness.T) {})
	require.ErrorContains(t, err, "faultconn: Latency 25h0m0s out of range [0,24h0m0s]")
}

// A negative Limit used to be accepted: the ledger kept nothing and Check
// blamed an overflow "beyond the ledger's Limit of -1".
func TestLedgerNegativeLimit(t *testing.T) {
	l := harness.Ledger{Limit: -1}
	l.Issue("a")
	l.Apply("a")
	l.Apply("a")
	require.EqualError(t, l.Check(), "harness: Ledger.Limit -1 out of range [0,∞) (0 means 1048576)")
}

// Bound fields out of range are reported, all at once, before the
// scenario runs.
func TestBoundOutOfRange(t *testing.T) {
	ran := false
	scenario := func(*testing.T, *netsim.Network, int) { ran = true }
	_, err := harness.MeasureBounded(t, harness.Bound{Load: -1, Factor: 1, Slack: math.NaN(), Interval: -time.Second}, scenario)
	require.EqualError(t, err, "harness: Bound.Load -1 out of range [0,∞) (0 means 100)\n"+
		"harness: Bound.Factor 1 out of range [2,∞) (0 means 10)\n"+
		"harness: Bound.Slack NaN out of range [0,1000] (0 means 0.5)\n"+
		"harness: Bound.Interval -1s out of range [0,∞) (0 means 100ms)")
	_, err = harness.MeasureBounded(t, harness.Bound{Factor: -3, Slack: -0.5}, scenario)
	require.ErrorContains(t, err, "harness: Bound.Factor -3 out of range [2,∞)")
	require.ErrorContains(t, err, "harness: Bound.Slack -0.5 out of range [0,1000]")
	_, err = harness.MeasureBounded(t, harness.Bound{Load: math.MaxInt / 2, Factor: 3}, scenario)
	require.ErrorContains(t, err, "harness: Bound.Load 4611686018427387903 times Bound.Factor 3 out of range")
	require.False(t, ran, "the scenario ran under an invalid bound")
}

// A Floor near the largest uint64 means no heap limit; it used to wrap
// around to a tiny limit and fail every scenario.
func TestBoundHugeFloorSaturates(t *testing.T) {
	res, err := harness.MeasureBounded(t, harness.Bound{Load: 1, Factor: 2, Floor: math.MaxUint64, GoroutineSlack: math.MaxInt, Interval: time.Second},
		func(_ *testing.T, _ *netsim.Network, load int) {
			held := make([]byte, load<<20) // seen by the sampler's ticks
			done := make(chan struct{})
			go func() { <-done }() // one goroutine above the baseline
			time.Sleep(2 * time.Second)
			runtime.KeepAlive(held)
			close(done)
		})
	require.NoError(t, err)
	require.Positive(t, res.Base.Heap)
	require.Positive(t, res.Base.Goroutines)
	require.Equal(t, uint64(math.MaxUint64), res.HeapLimit)
	require.Equal(t, math.MaxInt, res.GoroutineLimit)
}
