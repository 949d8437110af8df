package harness_test

import (
	"bytes"
	"io"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
)

// runsSoFar counts the runs of TestTwinNondeterministic's property. It is
// kept outside the case on purpose: the property depends on it, so a run
// of the same case does something else the second time.
var runsSoFar atomic.Int64

// TestTwinNondeterministic is a property that always fails, after
// sending as many bytes as runs of it came before: the same case sends
// something else when it runs again. It runs only as a subprocess of
// TestReplayVerdict.
func TestTwinNondeterministic(t *testing.T) {
	if harness.Twin() != "nondeterministic" {
		t.Skip("does not replay on purpose; runs only as a subprocess of TestReplayVerdict")
	}
	opts := harness.Options{MaxSteps: -1, Faults: faultconn.Profile{Latency: time.Millisecond}}
	harness.CheckWith(t, opts, func(t *harness.T) {
		ln, err := t.Net.Host("server").Listen("tcp", ":80")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			if c, err := ln.Accept(); err == nil {
				io.Copy(io.Discard, c)
				c.Close()
			}
		}()
		c, err := t.Net.Host("client").Dial("tcp", "server:80")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(bytes.Repeat([]byte("x"), int(runsSoFar.Add(1)))); err != nil {
			t.Fatal(err)
		}
		c.Close()
		t.Fatalf("fails every time")
	})
}

// TestReplayVerdict: the report of a failing case says whether the case
// replays. The double-charging twin is deterministic: "replays
// identically". The twin whose payload depends on a counter kept outside
// the case does not: the report names the first event where the replay
// parted from the failing run, with both versions.
func TestReplayVerdict(t *testing.T) {
	if testing.Short() {
		t.Skip("runs twins in subprocesses")
	}
	r := harness.RunTwin(t, "TestTwinDoubleApply", "double-apply", "-rapid.checks=1000", "-rapid.shrinktime=1s")
	require.True(t, r.Failed, r.Output)
	require.Contains(t, r.Output, "reproducible: replays identically (the harness ran the case once more: the same ")
	require.NotContains(t, r.Output, "does not replay")

	r = harness.RunTwin(t, "TestTwinNondeterministic", "nondeterministic")
	require.True(t, r.Failed, r.Output)
	m := regexp.MustCompile(`reproducible: does not replay: diverged at event #1 of the trace \(virtual time [^)]+\):\n` +
		`\s+the failing run: +[\d.]+s (client:\d+->server:80#1 out #1 send) (\d+)B\n` +
		`\s+the replay: +[\d.]+s (client:\d+->server:80#1 out #1 send) (\d+)B\n`).FindStringSubmatch(r.Output)
	require.NotNil(t, m, r.Output)
	require.Equal(t, m[1], m[3], "the same event of the same link")
	require.NotEqual(t, m[2], m[4], "sent different sizes")
	require.NotContains(t, r.Output, "replays identically")
	// The replay's own failure is not reported: its subtest passes.
	require.NotContains(t, r.Output, "--- FAIL: TestTwinNondeterministic/headwind-replay")
}
