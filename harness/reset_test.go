package harness_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// The ways a drawn reset used to reach a user: a netsim Reset crashed the
// whole test binary (a nil hook), under CheckWith's Faults.Reset and under
// HEADWIND_FAULTS='reset=…' alike. These tests run both forms.

// echoUnderResets has a client on "client" send rounds of a 100-byte
// line to an echo server on "server" (serveLines), one connection per
// round, and counts the rounds that ended in ECONNRESET. Any error other
// than a connection failing is returned.
func echoUnderResets(n *netsim.Network, rounds int) (resets int, err error) {
	ln, err := n.Host("server").Listen("tcp", ":7")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go serveLines(ln, func(line string) string { return line })
	msg, back := []byte(strings.Repeat("x", 99)+"\n"), make([]byte, 100)
	for i := range rounds {
		c, err := n.Host("client").Dial("tcp", "server:7")
		if err != nil {
			return resets, fmt.Errorf("round %d: dial: %w", i, err)
		}
		_, err = c.Write(msg)
		if err == nil {
			_, err = io.ReadFull(c, back)
		}
		c.Close()
		switch {
		case err == nil:
		case errors.Is(err, syscall.ECONNRESET):
			resets++
		case errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		default:
			return resets, fmt.Errorf("round %d: %w", i, err)
		}
	}
	return resets, nil
}

// TestCheckWithDrawnResets: Check's cases draw resets up to one in two
// segments; every case runs to its end and a reset reaches the client as
// ECONNRESET.
func TestCheckWithDrawnResets(t *testing.T) {
	total := 0
	harness.CheckWith(t, harness.Options{NoSwarm: true, MaxSteps: -1, Faults: faultconn.Profile{Reset: 0.5}}, func(t *harness.T) {
		resets, err := echoUnderResets(t.Net, 20)
		if err != nil {
			t.Fatal(err)
		}
		total += resets
	})
	require.Positive(t, total, "no case drew a reset")
}

// TestSuiteResetsEnv runs a Run test under HEADWIND_FAULTS='reset=50%',
// as a suite would: it passes, and half the rounds see a reset.
func TestSuiteResetsEnv(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test in a subprocess")
	}
	cmd := exec.Command("go", "test", "-count=1", "./harness", "-run", "^TestTwinSuiteResets$", "-v")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "HEADWIND_FAULTS=reset=50%", harness.TwinEnv+"=suite-resets")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: TestTwinSuiteResets")
	m := regexp.MustCompile(`(\d+) of 40 rounds reset`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "%s", out)
	resets, _ := strconv.Atoi(m[1])
	require.Positive(t, resets, "%s", out)
}

func TestTwinSuiteResets(t *testing.T) {
	if harness.Twin() != "suite-resets" {
		t.Skip("runs only as a subprocess of TestSuiteResetsEnv")
	}
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		require.Equal(t, 0.5, n.Config().Default.Reset)
		resets, err := echoUnderResets(n, 40)
		require.NoError(t, err)
		t.Logf("%d of 40 rounds reset", resets)
	})
}
