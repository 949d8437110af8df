package netsim_test

import (
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// TestPauseHoldsTrafficBothWays: a paused host's traffic, both ways, is
// held (not lost: nothing retransmits, nothing times out, even over a
// pause longer than the retransmissions would last) and arrives at the
// resume instant, in order.
func TestPauseHoldsTrafficBothWays(t *testing.T) {
	for _, mode := range []faultconn.Mode{faultconn.Stream, faultconn.Segments} {
		synctest.Test(t, func(t *testing.T) {
			n := lcNet(t, netsim.Config{Mode: mode, Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
			ln := lcListen(t, n, "b", ":80")
			c, s := lcPair(t, n, ln, "a", "b:80")
			start := time.Now()
			time.Sleep(time.Second)
			require.NoError(t, n.Pause("b"))
			require.True(t, n.Paused("b"))
			for _, m := range []string{"one ", "two ", "three"} {
				_, err := c.Write([]byte(m)) // to the paused host
				require.NoError(t, err)
			}
			_, err := s.Write([]byte("from b")) // from the paused host
			require.NoError(t, err)

			toB, toA := lcRead(start, s, 13), lcRead(start, c, 6)
			lcSleepUntil(start, 2001*time.Second) // far past 924.6s of retransmissions
			require.NoError(t, n.Resume("b"))
			r := <-toB
			require.NoError(t, r.err)
			require.Equal(t, "one two three", string(r.b))
			require.Equal(t, 2001*time.Second+time.Nanosecond, r.at, "held, released just after the resume instant")
			r = <-toA
			require.NoError(t, r.err)
			require.Equal(t, "from b", string(r.b))
			require.Equal(t, 2001*time.Second+2*time.Nanosecond, r.at,
				"links are released one nanosecond apart, in name order (out before in)")
			require.Zero(t, c.(*netsim.Conn).Stats().Out.Retransmitted, "held is not lost")
			require.Zero(t, s.(*netsim.Conn).Stats().Out.Retransmitted)

			// After the resume, traffic flows as before.
			_, err = c.Write([]byte("more"))
			require.NoError(t, err)
			r = <-lcRead(start, s, 4)
			require.Equal(t, 2001*time.Second+2*time.Nanosecond+10*time.Millisecond, r.at)
			n.Close()
		})
	}
}

// TestPauseHoldsDialsAndDatagrams: a dial to a paused host completes one
// latency after the resume; a datagram to it is delivered at the resume.
func TestPauseHoldsDialsAndDatagrams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		go func() {
			if c, err := ln.Accept(); err == nil {
				defer c.Close()
			}
		}()
		pc, err := n.Host("b").ListenPacket("udp", ":53")
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, n.Pause("b"))
		time.Sleep(time.Millisecond) // the pause applies after its instant
		dialed := make(chan time.Duration, 1)
		go func() {
			c, err := n.Host("a").Dial("tcp", "b:80")
			if err == nil {
				c.Close()
			}
			dialed <- time.Since(start)
		}()
		ua, err := n.Host("a").ListenPacket("udp", ":0")
		require.NoError(t, err)
		_, err = ua.WriteTo([]byte("ping"), &net.UDPAddr{IP: net.IP(n.Host("b").IP().AsSlice()), Port: 53})
		require.NoError(t, err)
		got := make(chan time.Duration, 1)
		go func() {
			buf := make([]byte, 8)
			if _, _, err := pc.ReadFrom(buf); err == nil {
				got <- time.Since(start)
			}
		}()
		lcSleepUntil(start, 3*time.Second)
		require.NoError(t, n.Resume("b"))
		require.Equal(t, 3*time.Second+2*time.Nanosecond, <-got)
		require.Equal(t, 3*time.Second+time.Nanosecond+10*time.Millisecond, <-dialed, "the dial wakes a nanosecond after the resume")
		n.Close()
	})
}

func TestPauseBadInput(t *testing.T) {
	n := lcNet(t, netsim.Config{})
	n.Host("a")
	require.ErrorContains(t, n.Pause("nobody"), `netsim: no host named "nobody"`)
	require.ErrorContains(t, n.Resume("nobody"), `netsim: no host named "nobody"`)
	require.NoError(t, n.Resume("a"), "resuming a running host does nothing")
	require.NoError(t, n.Crash("a"))
	require.ErrorContains(t, n.Pause("a"), `netsim: Pause("a"): the host is crashed`)
	_, err := n.Host("a").Dial("tcp", "a:80")
	require.ErrorIs(t, err, syscall.ENETDOWN)
}

// lcRead reads exactly size bytes from c.
func lcRead(start time.Time, c net.Conn, size int) <-chan lcResult {
	ch := make(chan lcResult, 1)
	go func() {
		buf := make([]byte, size)
		got := 0
		for got < size {
			n, err := c.Read(buf[got:])
			got += n
			if err != nil {
				ch <- lcResult{at: time.Since(start), b: buf[:got], err: err}
				return
			}
		}
		ch <- lcResult{at: time.Since(start), b: buf}
	}()
	return ch
}

// TestCrashWhilePausedLosesWhatWasHeld: a paused host that crashes loses
// what its pause held; its peer retransmits into the silence and gives up.
func TestCrashWhilePausedLosesWhatWasHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		c, _ := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()
		require.NoError(t, n.Pause("b"))
		peerSide := lcReadAll(start, c)
		_, err := c.Write([]byte("held"))
		require.NoError(t, err)
		lcSleepUntil(start, 5*time.Second)
		require.NoError(t, n.Crash("b"))
		require.False(t, n.Paused("b"))
		r := <-peerSide
		require.ErrorIs(t, r.err, syscall.ETIMEDOUT)
		require.NotZero(t, c.(*netsim.Conn).Stats().Out.Retransmitted)
		n.Close()
	})
}
