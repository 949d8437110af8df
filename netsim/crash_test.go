package netsim_test

import (
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// TestCrashIsSilence: a crashed host sends nothing (no FIN, no reset): the
// peer's retransmissions give up at 924.6s, as across a partition; the
// crashed host's own blocked calls fail at the crash instant.
func TestCrashIsSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		c, s := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()
		accepted := make(chan error, 1)
		go func() { _, err := ln.Accept(); accepted <- err }()
		crashedSide := lcReadAll(start, s)
		peerSide := lcReadAll(start, c)
		time.Sleep(time.Second)
		_, err := s.Write([]byte("in flight when b dies")) // arrives at 1.01s: never
		require.NoError(t, err)
		lcSleepUntil(start, time.Second+5*time.Millisecond)
		require.NoError(t, n.Crash("b"))
		require.False(t, n.Up("b"))

		r := <-crashedSide
		require.ErrorIs(t, r.err, net.ErrClosed, "b's own read fails")
		require.Equal(t, 1005*time.Millisecond, r.at)
		require.ErrorIs(t, <-accepted, net.ErrClosed, "b's accept fails")
		_, err = s.Write([]byte("x"))
		require.ErrorIs(t, err, net.ErrClosed)
		require.ErrorIs(t, s.Close(), net.ErrClosed, "Close on a crashed conn sends nothing")

		_, err = c.Write([]byte("to a dead host"))
		require.NoError(t, err)
		r = <-peerSide
		require.ErrorIs(t, r.err, syscall.ETIMEDOUT, "the peer hears silence, then gives up")
		require.Empty(t, r.b, "what b wrote before it died never arrives")
		require.Equal(t, 1005*time.Millisecond+924600*time.Millisecond, r.at)
		n.Close()
	})
}

// TestCrashedHostsCalls: a crashed host cannot dial, listen or send; its
// dial in progress fails at the crash instant; a dial to it goes
// unanswered even in Reject mode (a dead host sends no ICMP).
func TestCrashedHostsCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		lcListen(t, n, "c", ":80")
		n.Host("a")
		n.Isolate("c")
		start := time.Now()
		dialing := make(chan error, 1)
		go func() { _, err := n.Host("b").Dial("tcp", "c:80"); dialing <- err }()
		time.Sleep(3 * time.Second)
		require.NoError(t, n.Crash("b"))
		err := <-dialing
		require.ErrorIs(t, err, syscall.ENETDOWN, "the dial in progress fails")
		require.Equal(t, 3*time.Second, time.Since(start))

		_, err = n.Host("b").Dial("tcp", "a:80")
		require.ErrorIs(t, err, syscall.ENETDOWN)
		_, err = n.Host("b").Listen("tcp", ":80")
		require.ErrorIs(t, err, syscall.ENETDOWN)
		_, err = n.Host("b").ListenPacket("udp", ":53")
		require.ErrorIs(t, err, syscall.ENETDOWN)

		require.NoError(t, n.SetPartitionMode(netsim.Reject))
		start = time.Now()
		_, err = n.Host("a").Dial("tcp", "b:80")
		require.ErrorIs(t, err, syscall.ETIMEDOUT)
		require.Equal(t, 127*time.Second, time.Since(start), "SYN retries, as to a partitioned host in Drop mode")
		n.Close()
	})
}

// TestRestartResetsOldConns: after a restart, the old connections' segments
// are answered with a reset; dials are refused until something listens.
func TestRestartResetsOldConns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		c, _ := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()
		require.NoError(t, n.Crash("b"))
		peerSide := lcReadAll(start, c)
		_, err := c.Write([]byte("hello?")) // lost at 10ms; RTOs 0.2, 0.4, 0.8s
		require.NoError(t, err)
		lcSleepUntil(start, time.Second)
		require.Equal(t, 1, n.Host("b").Boots())
		require.NoError(t, n.Restart("b"))
		require.Equal(t, 2, n.Host("b").Boots())
		require.True(t, n.Up("b"))

		// The retransmission sent at 1.4s arrives at 1.41s and draws a
		// reset, which arrives at 1.42s.
		r := <-peerSide
		require.ErrorIs(t, r.err, syscall.ECONNRESET)
		require.Equal(t, 1420*time.Millisecond, r.at)

		start = time.Now()
		_, err = n.Host("a").Dial("tcp", "b:80")
		require.ErrorIs(t, err, syscall.ECONNREFUSED, "nothing listens on the new incarnation")
		require.Equal(t, 20*time.Millisecond, time.Since(start))
		ln2 := lcListen(t, n, "b", ":80")
		c2, s2 := lcPair(t, n, ln2, "a", "b:80")
		_, err = c2.Write([]byte("hi"))
		require.NoError(t, err)
		buf := make([]byte, 2)
		_, err = io.ReadFull(s2, buf)
		require.NoError(t, err)
		require.Equal(t, "hi", string(buf))
		n.Close()
	})
}

// TestPartitionModes: under Reject, a dial across a partition fails with
// EHOSTUNREACH after one round trip; under Drop it times out after 127s.
func TestPartitionModes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		lcListen(t, n, "b", ":80")
		n.Partition([]string{"a"}, []string{"b"})
		require.NoError(t, n.SetPartitionMode(netsim.Reject))
		start := time.Now()
		_, err := n.Host("a").Dial("tcp", "b:80")
		require.ErrorIs(t, err, syscall.EHOSTUNREACH)
		require.ErrorIs(t, err, faultconn.ErrInjected)
		require.Equal(t, 20*time.Millisecond, time.Since(start))

		require.NoError(t, n.SetPartitionMode(netsim.Drop))
		time.Sleep(time.Millisecond) // a change applies after its instant
		start = time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		_, err = n.Host("a").DialContext(ctx, "tcp", "b:80")
		require.ErrorIs(t, err, syscall.ETIMEDOUT)
		require.Equal(t, 127*time.Second, time.Since(start))
		n.Close()
	})
}

func TestLifecycleBadInput(t *testing.T) {
	n := lcNet(t, netsim.Config{})
	n.Host("a")
	require.ErrorContains(t, n.Crash("nobody"), `netsim: no host named "nobody"`)
	require.ErrorContains(t, n.Restart("nobody"), `netsim: no host named "nobody"`)
	require.ErrorContains(t, n.Restart("a"), `netsim: Restart("a"): the host is up`)
	require.ErrorContains(t, n.SetPartitionMode(7), "netsim: PartitionMode 7 out of range (Drop or Reject)")
	require.NoError(t, n.Crash("a"))
	require.NoError(t, n.Crash("a"), "crashing a crashed host does nothing")
	require.Equal(t, "reject", netsim.Reject.String())
}
