package harness_test

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
)

// slowStep is a nemesis step of the user's own, written outside the
// harness: it slows one direction between two hosts down to a fixed
// latency, with netsim's SetLink.
type slowStep struct {
	from, to int           // host indices, resolved modulo the hosts
	latency  time.Duration // the link's latency from now on
}

// slowLink is the Fault that draws slowSteps: the harness draws it like
// its built-ins, shrinks it (fewer steps, smaller latencies, lower
// indices) and prints it in the failure report.
var slowLink = harness.Fault{
	Name: "slow",
	Draw: func(rt *rapid.T, _ harness.Options) harness.Step {
		return slowStep{
			from: rapid.IntRange(0, 63).Draw(rt, "from"),
			to:   rapid.IntRange(0, 63).Draw(rt, "to"),
			// 100ms to 1s, and 13ns: off the round instants of the
			// system's timers, as the harness's own latencies are.
			latency: time.Duration(rapid.IntRange(1, 10).Draw(rt, "latency (100ms)"))*100*time.Millisecond + 13,
		}
	},
}

// hosts resolves the step's indices as the built-ins do: modulo the
// hosts, moving to on when both name the same host.
func (s slowStep) hosts(hosts []string) (string, string) {
	a, b := hosts[s.from%len(hosts)], hosts[s.to%len(hosts)]
	if a == b {
		b = hosts[(s.to+1)%len(hosts)]
	}
	return a, b
}

func (s slowStep) String() string { return fmt.Sprintf("slow #%d->#%d %v", s.from, s.to, s.latency) }

// Describe is optional: the report's schedule line names the hosts.
func (s slowStep) Describe(hosts []string) string {
	if len(hosts) < 2 {
		return s.String()
	}
	a, b := s.hosts(hosts)
	return fmt.Sprintf("slow %s->%s by %v", a, b, s.latency.Round(time.Millisecond))
}

func (s slowStep) Apply(t *harness.T, hosts []string) string {
	if len(hosts) < 2 {
		return "slow: skipped (fewer than 2 hosts)"
	}
	a, b := s.hosts(hosts)
	t.Net.SetLink(a, b, faultconn.Profile{Latency: s.latency})
	return s.Describe(hosts)
}

// slowOnly are options under which only the user's step can make the
// payment client retry: a clean 1ms network and the slow step alone.
var slowOnly = harness.Options{
	Faults:  faultconn.Profile{Latency: time.Millisecond},
	Nemesis: []harness.Fault{slowLink},
}

// TestTwinSlowLink is the double-charging payment service under the
// user's slow step only: a reply slower than the client's 500ms attempt
// timeout makes it retry, and the twin charges the retry again.
func TestTwinSlowLink(t *testing.T) {
	if harness.Twin() != "slow-link" {
		t.Skip("a buggy twin; runs only in a subprocess started by TestUserStepIsDrawnAndPrinted")
	}
	harness.CheckWith(t, slowOnly, payProperty(false))
}

// TestUserStepIsDrawnAndPrinted proves that a step written outside the
// harness is drawn by Check (it is the only way the twin fails), and
// printed in the report with host names and in the exact line with its
// String, and named in the swarm's set.
func TestUserStepIsDrawnAndPrinted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the buggy twin in a subprocess")
	}
	r := harness.RunTwin(t, "TestTwinSlowLink", "slow-link", "-rapid.checks=1000")
	require.True(t, r.Failed, "the twin passed:\n%s", r.Output)
	require.Regexp(t, `key "p\d+" applied \d+ times`, r.Output)
	for _, want := range []string{
		`swarm: profile (latency|none); nemesis slow\n`,
		`schedule: (at \S+ slow (client->server|server->client) by \d+ms; )+at 10s heal all\n`,
		`nemesis did: (at \S+ slow (client->server|server->client) by \d+ms; )+at 10s heal all\n`,
		`"step":"slow #\d+->#\d+ \d+(\.\d+)?m?s"`,
	} {
		require.Regexp(t, regexp.MustCompile(want), r.Output)
	}
	t.Log(regexp.MustCompile(`schedule: .*`).FindString(r.Output))
}

// TestUserStepIsShrunk: rapid shrinks a failure under the user's step
// like one under the built-ins: to one step, at the case's start, between
// the first two hosts, with a latency of 300ms (the smallest that shrinking
// found still fails), and the rest of the case drawn down to nothing. Shrinking is given all the time it needs
// (-rapid.shrinktime=10m, far beyond the second or so it takes), so the
// result depends on the seed alone.
func TestUserStepIsShrunk(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the buggy twin in a subprocess")
	}
	r := harness.RunTwin(t, "TestTwinSlowLink", "slow-link", "-rapid.seed=1", "-rapid.checks=1000", "-rapid.shrinktime=10m", "-rapid.nofailfile")
	require.True(t, r.Failed, "the twin passed:\n%s", r.Output)
	require.Contains(t, r.Output, `"steps":[{"at_ns":777,"step":"slow #0->#0 300.000013ms"}]`, "the exact shrunk case")
	require.Contains(t, r.Output, "schedule: at 0s slow client->server by 300ms; at 10s heal all\n")
}

// TestUserStepPassesTheCorrectService: the same options on the correct
// service pass: the slow step alone breaks nothing there.
func TestUserStepPassesTheCorrectService(t *testing.T) {
	harness.CheckWith(t, slowOnly, payProperty(true))
}
