package harness_test

import (
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// echoOnce serves one echo connection on server:7 and returns the client
// end of a connection to it.
func echoOnce(t *testing.T, n *netsim.Network) net.Conn {
	t.Helper()
	ln, err := n.Host("server").Listen("tcp", ":7")
	require.NoError(t, err)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	c, err := n.Host("client").Dial("tcp", "server:7")
	require.NoError(t, err)
	return c
}

// TestRunVirtualTime shows Run's contract: a bubble, a fresh network whose
// default profile is -headwind.faults (none here), exact instants.
func TestRunVirtualTime(t *testing.T) {
	if os.Getenv("HEADWIND_FAULTS") != "" || flag.Lookup("headwind.faults").Value.String() != "" {
		t.Skip("asserts instants of a perfect network; -headwind.faults changes them")
	}
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		require.NoError(t, n.SetLink("client", "server", faultProfile(50*time.Millisecond)))
		require.NoError(t, n.SetLink("server", "client", faultProfile(50*time.Millisecond)))
		start := time.Now()
		c := echoOnce(t, n)
		require.Equal(t, 100*time.Millisecond, time.Since(start))
		_, err := c.Write([]byte("ping"))
		require.NoError(t, err)
		buf := make([]byte, 4)
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		require.Equal(t, 200*time.Millisecond, time.Since(start))
		// Run closes the network afterwards: the echo goroutine ends.
	})
}

// TestTwinRunTraffic sends traffic through a Run network and fails on
// purpose when HEADWIND_TWIN=run-fails; with HEADWIND_TWIN=run-traffic it
// passes. Both only run as subprocesses of the tests below.
func TestTwinRunTraffic(t *testing.T) {
	twin := harness.Twin()
	if twin != "run-fails" && twin != "run-traffic" {
		t.Skip("runs only as a subprocess of TestRunFailureReport and TestRunSeedAndFaultsFlags")
	}
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		c := echoOnce(t, n)
		buf := make([]byte, 64)
		for i := range 20 {
			if _, err := c.Write([]byte("message")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf[:7]); err != nil {
				t.Fatal(err)
			}
			_ = i
		}
		if twin == "run-fails" {
			t.Fatalf("failing on purpose after %v", time.Since(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)))
		}
	})
}

func TestRunFailureReport(t *testing.T) {
	dir := t.TempDir()
	out, failed := runTwin(t, "run-fails", "TestTwinRunTraffic", "-headwind.seed=77", "-headwind.faults=latency=10ms loss=5%", "-headwind.trace="+dir)
	require.True(t, failed, out)
	require.Contains(t, out, "headwind: network seed 77 (replay: HEADWIND_TWIN=run-fails go test ./harness -run '^TestTwinRunTraffic$' -headwind.seed=77 -headwind.faults='latency=10ms loss=5%')")
	require.Contains(t, out, "headwind: FAILED with network seed 77")
	require.Contains(t, out, "faults: latency=10ms loss=5%")
	require.Contains(t, out, "replay: HEADWIND_TWIN=run-fails go test ./harness -run '^TestTwinRunTraffic$' -headwind.seed=77 -headwind.faults='latency=10ms loss=5%'")
	require.Regexp(t, `message sequence \(one line per burst of segments; faultconn.WriteSequence\):\n\s+0\.\d{3}s\s+conn 1\s+client\s+──\s+\d+B──▶ server`, out)
	for _, ext := range []string{".txt", ".jsonl"} {
		f := filepath.Join(dir, "TestTwinRunTraffic-seed77"+ext)
		require.FileExists(t, f)
		require.Contains(t, out, f)
	}
}

// TestRunSeedAndFaultsFlags: the same -headwind.seed gives the same faults
// (the same trace, to the event); another seed gives others; and
// -headwind.faults is the default profile.
func TestRunSeedAndFaultsFlags(t *testing.T) {
	trace := func(seed string) string {
		dir := t.TempDir()
		// The passing twin writes no trace; make it fail only at the end so
		// that the trace of the whole run is written.
		out, failed := runTwin(t, "run-fails", "TestTwinRunTraffic", "-headwind.seed="+seed,
			"-headwind.faults=latency=10ms jitter=5ms loss=20% segment=3", "-headwind.trace="+dir)
		require.True(t, failed, out)
		b, err := os.ReadFile(filepath.Join(dir, "TestTwinRunTraffic-seed"+seed+".txt"))
		require.NoError(t, err)
		return string(b)
	}
	a, b, c := trace("5"), trace("5"), trace("6")
	require.Equal(t, a, b, "the same seed gave different faults")
	require.NotEqual(t, a, c, "different seeds gave the same faults")
	require.Regexp(t, regexp.MustCompile(`(?m) lose `), a, "-headwind.faults loss=20% lost nothing")
	require.Regexp(t, regexp.MustCompile(`(?m) deliver 3B$`), a, "-headwind.faults segment=3 did not cut segments")

	out, failed := runTwin(t, "run-traffic", "TestTwinRunTraffic", "-test.v", "-headwind.seed=5")
	require.False(t, failed, out)
	require.Contains(t, out, "headwind: network seed 5 (replay: HEADWIND_TWIN=run-traffic go test ./harness -run '^TestTwinRunTraffic$' -headwind.seed=5)")

	out, failed = runTwin(t, "run-traffic", "TestTwinRunTraffic", "-headwind.faults=loss=150%")
	require.True(t, failed, "an invalid -headwind.faults was accepted")
	require.Contains(t, out, "loss")
}
