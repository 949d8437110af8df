package harness_test

import (
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// reconnectUnderLock is the nats.go reconnect pattern: a connection
// mutex held across a Dial. The server is isolated, so the Dial waits on
// virtual time (SYN retransmissions); publish then waits on the mutex,
// which is not a durable wait, so the virtual clock stops and the Dial
// never ends: a stall.
func reconnectUnderLock(n *netsim.Network) {
	if _, err := n.Host("server").Listen("tcp", ":4222"); err != nil {
		panic(err)
	}
	n.Host("client")
	n.Isolate("server")
	time.Sleep(time.Millisecond) // a partition applies after its instant
	var mu sync.Mutex
	go func() {
		mu.Lock()
		defer mu.Unlock()
		if c, err := n.Host("client").Dial("tcp", "server:4222"); err == nil {
			c.Close()
		}
	}()
	time.Sleep(time.Millisecond) // the reconnect takes the lock first
	publish(&mu)
}

func publish(mu *sync.Mutex) {
	mu.Lock()
	mu.Unlock()
}

// TestTwinStall runs reconnectUnderLock under Run (HEADWIND_TWIN=stall-run)
// or Check (stall-check). It hangs without the watchdog; it runs only as a
// subprocess of TestStallWatchdog.
func TestTwinStall(t *testing.T) {
	switch harness.Twin() {
	case "stall-run":
		harness.Run(t, func(t *testing.T, n *netsim.Network) { reconnectUnderLock(n) })
	case "stall-check":
		harness.CheckWith(t, harness.Options{MaxSteps: -1}, func(t *harness.T) { reconnectUnderLock(t.Net) })
	default:
		t.Skip("stalls on purpose; runs only as a subprocess of TestStallWatchdog")
	}
}

// FuzzTwinStall runs reconnectUnderLock as a fuzz target's input
// (HEADWIND_TWIN=stall-fuzz; plain go test runs its seed input).
func FuzzTwinStall(f *testing.F) {
	if harness.Twin() != "stall-fuzz" {
		f.Skip("stalls on purpose; runs only as a subprocess of TestStallWatchdog")
	}
	harness.FuzzWith(f, harness.Options{MaxSteps: -1}, func(t *harness.T) { reconnectUnderLock(t.Net) })
}

// TestStallWatchdog: a bubble stalled on a mutex held across a blocking
// Dial fails the test with a diagnosis naming the mutex wait and the
// goroutine, instead of hanging until go test's timeout. The bound is
// short (1s); the assertions are on the output, not on timing.
func TestStallWatchdog(t *testing.T) {
	for _, twin := range []string{"stall-run", "stall-check", "stall-fuzz"} {
		t.Run(twin, func(t *testing.T) {
			test := "TestTwinStall"
			if twin == "stall-fuzz" {
				test = "FuzzTwinStall"
			}
			r := harness.RunTwin(t, test, twin, "-headwind.stall=1s")
			require.True(t, r.Failed, r.Output)
			for _, want := range []string{
				`headwind: ` + test + `\S* STALLED: no progress in virtual time for [\d.]+m?s of real time \(-headwind.stall=1s\)`,
				regexp.QuoteMeta("the virtual clock only advances when every goroutine in the bubble is durably blocked"),
				// The mutex wait, flagged first, naming the goroutine and where it waits.
				`goroutines of the bubble \(synctest bubble \d+\), those not durably blocked first:\n\s*NOT DURABLE: goroutine \d+ \[sync\.Mutex\.Lock\] waits on a sync\.Mutex`,
				`harness_test\.publish\(`,
				// The dialer, durably blocked in the Dial, listed after it.
				`goroutine \d+ \[[^\]]*\(durable\)\]:\n(\s+.*\n)*?\s+.*netsim\.\(\*Host\)\.Dial\(`,
				`harness_test\.reconnectUnderLock\.func1\(`,
			} {
				require.Regexp(t, want, r.Output)
			}
			switch twin {
			case "stall-run":
				// Its replay command, run from the module root, stalls
				// again, on the same seed.
				m := regexp.MustCompile(`replay: (HEADWIND_TWIN=stall-run go test ./harness -run '\^TestTwinStall\$' -headwind.seed=\d+)`).FindStringSubmatch(r.Output)
				require.NotNil(t, m, r.Output)
				out, failed := runFromRoot(t, m[1]+" -headwind.stall=1s")
				require.True(t, failed, "%s\n%s", m[1], out)
				require.Contains(t, out, "STALLED")
				require.Contains(t, out, m[1])
				return
			case "stall-fuzz":
				// The target's own seed input: its replay runs it again.
				m := regexp.MustCompile(`replay: (HEADWIND_TWIN=stall-fuzz go test ./harness -run '\^FuzzTwinStall\$/\^seed#0\$')\n`).FindStringSubmatch(r.Output)
				require.NotNil(t, m, r.Output)
				out, failed := runFromRoot(t, m[1]+" -headwind.stall=1s")
				require.True(t, failed, "%s\n%s", m[1], out)
				require.Contains(t, out, "FuzzTwinStall/seed#0 STALLED")
				return
			}
			// A stalled Check case gets a replay command too (the stall
			// ends the binary before rapid prints its seed): run from
			// the module root, it stalls again on the very same case.
			require.Contains(t, r.Output, "case: network seed ")
			m := regexp.MustCompile(`replay: (HEADWIND_TWIN=stall-check go test \./harness -run '\^TestTwinStall\$' -rapid\.seed=\d+) \(rapid runs this case first\)\n`).
				FindStringSubmatch(r.Output)
			require.NotNil(t, m, r.Output)
			exact := regexp.MustCompile(`exact: .*`)
			out, failed := runFromRoot(t, m[1]+" -headwind.stall=1s")
			require.True(t, failed, "%s\n%s", m[1], out)
			require.Contains(t, out, "STALLED")
			require.Equal(t, exact.FindString(r.Output), exact.FindString(out), "the replay stalls on the same case")
		})
	}
	// -headwind.stall is validated.
	r := harness.RunTwin(t, "TestTwinStall", "stall-run", "-headwind.stall=-1s")
	require.True(t, r.Failed, r.Output)
	require.Contains(t, r.Output, `harness: -headwind.stall "-1s": not a duration in [0,∞)`)
}
