package netsim_test

import (
	"io"
	"os"
	"runtime"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// Regression tests for what issue 9 found: each failed before the engine
// had one set of connection rules.

// TestRegressDrawnResetOnStream: a drawn Reset on a netsim stream conn
// once panicked the binary (a hook bound to a link not yet made).
func TestRegressDrawnResetOnStream(t *testing.T) {
	for _, mode := range []faultconn.Mode{faultconn.Stream, faultconn.Segments} {
		synctest.Test(t, func(t *testing.T) {
			n := lcNet(t, netsim.Config{Mode: mode, Default: faultconn.Profile{Reset: 1, Latency: 10 * time.Millisecond}})
			ln := lcListen(t, n, "b", ":80")
			c, s := lcPair(t, n, ln, "a", "b:80")
			start := time.Now()
			_, err := c.Write([]byte("doomed"))
			require.NoError(t, err, "the write that drew the reset reports success")
			_, err = c.Read(make([]byte, 1))
			require.ErrorIs(t, err, syscall.ECONNRESET, "the writer's reads fail at once")
			require.ErrorIs(t, err, faultconn.ErrInjected)
			require.Equal(t, time.Duration(0), time.Since(start))
			_, err = s.Read(make([]byte, 1))
			require.ErrorIs(t, err, syscall.ECONNRESET, "the peer sees the reset after the latency")
			require.Equal(t, 10*time.Millisecond, time.Since(start))
			_, err = s.Write([]byte("x"))
			require.ErrorIs(t, err, syscall.EPIPE, "reported once; then EPIPE")
			n.Close()
		})
	}
}

// TestRegressFinWaitsForHeal: a FIN does not cross a partition; it is
// retransmitted, and the peer reads end of stream at the first
// retransmission after the heal.
func TestRegressFinWaitsForHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		c, s := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()
		n.Partition([]string{"a"}, []string{"b"})
		require.NoError(t, c.Close())
		got := lcReadAll(start, s)
		lcSleepUntil(start, 500*time.Millisecond)
		n.Heal()
		r := <-got
		require.Equal(t, io.EOF, r.err)
		// Sent at 0 (lost at 10ms), retransmitted at 200ms (lost at 210ms)
		// and at 600ms: it arrives at 610ms.
		require.Equal(t, 610*time.Millisecond, r.at)
		n.Close()
	})
}

// TestRegressRstLostToPartition: a reset sent into a partition is lost,
// not delivered across it; the peer sees nothing.
func TestRegressRstLostToPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		c, s := lcPair(t, n, ln, "a", "b:80")
		n.Partition([]string{"a"}, []string{"b"})
		c.(*netsim.Conn).SetLinger(0)
		require.NoError(t, c.Close())
		time.Sleep(time.Second)
		n.Heal()
		s.SetReadDeadline(time.Now().Add(time.Minute))
		_, err := s.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the reset was lost: the peer saw nothing")
		n.Close()
	})
}

// TestRegressHealRescuesInFlight: a segment lost while a link drops
// everything arrives at the first retransmission after the link heals.
func TestRegressHealRescuesInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		c, s := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()
		require.NoError(t, n.SetLink("a", "b", faultconn.Profile{Latency: 10 * time.Millisecond, Loss: 1}))
		_, err := c.Write([]byte("rescued"))
		require.NoError(t, err)
		lcSleepUntil(start, time.Second)
		require.NoError(t, n.SetLink("a", "b", faultconn.Profile{Latency: 10 * time.Millisecond}))
		buf := make([]byte, 16)
		k, err := s.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "rescued", string(buf[:k]))
		// Sent at 0, 200ms, 600ms (all lost), 1.4s: arrives at 1.41s.
		require.Equal(t, 1410*time.Millisecond, time.Since(start))
		n.Close()
	})
}

// TestRegressClosedConnsWithDeadlinesAreFreed: closed conns with a far
// read deadline once stayed in memory until their deadline's timer fired
// (3.5 KB each).
func TestRegressClosedConnsWithDeadlinesAreFreed(t *testing.T) {
	const conns = 2000
	measure := func(deadline bool) uint64 {
		var used uint64
		synctest.Test(t, func(t *testing.T) {
			n := lcNet(t, netsim.Config{})
			ln := lcListen(t, n, "b", ":80")
			go func() {
				for {
					s, err := ln.Accept()
					if err != nil {
						return
					}
					io.Copy(io.Discard, s)
					s.Close()
				}
			}()
			for range conns {
				c, err := n.Host("a").Dial("tcp", "b:80")
				require.NoError(t, err)
				if deadline {
					c.SetReadDeadline(time.Now().Add(time.Hour))
					c.SetWriteDeadline(time.Now().Add(time.Hour))
				}
				c.Close()
			}
			time.Sleep(time.Second) // every FIN delivered, every server end closed
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			used = m.HeapAlloc
			n.Close()
		})
		return used
	}
	without := measure(false)
	with := measure(true)
	perConn := (int64(with) - int64(without)) / conns
	t.Logf("heap with far deadlines: %d B more per closed conn", perConn)
	require.Less(t, perConn, int64(600), "a closed conn's deadline keeps only its stopped timer")
}
