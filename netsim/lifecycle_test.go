package netsim_test

import (
	"context"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// The tests in this file run inside synctest bubbles and assert the exact
// virtual instant of every event of a connection's life: time.Since(start)
// is compared with ==, never with a tolerance.

// lcNet returns a network closed at the end of the test (tests close it
// explicitly too, before the bubble's root goroutine returns).
func lcNet(t *testing.T, cfg netsim.Config) *netsim.Network {
	t.Helper()
	n, err := netsim.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

// lcListen listens on addr of host.
func lcListen(t *testing.T, n *netsim.Network, host, addr string) net.Listener {
	t.Helper()
	ln, err := n.Host(host).Listen("tcp", addr)
	require.NoError(t, err)
	return ln
}

// lcPair dials addr from host from and accepts the connection on ln; it
// returns the dialer's and the acceptor's ends.
func lcPair(t *testing.T, n *netsim.Network, ln net.Listener, from, addr string) (c, s net.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- s
	}()
	c, err := n.Host(from).Dial("tcp", addr)
	require.NoError(t, err)
	s, ok := <-accepted
	require.True(t, ok, "Accept failed")
	return c, s
}

// lcResult is what a call made in another goroutine returned, and when.
type lcResult struct {
	name string
	at   time.Duration // since the test's start
	n    int
	b    []byte
	err  error
}

// lcReadAll reads c to its end in a goroutine and reports the bytes, the
// final error and the instant of that error.
func lcReadAll(start time.Time, c net.Conn) <-chan lcResult {
	ch := make(chan lcResult, 1)
	go func() {
		var got []byte
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				ch <- lcResult{at: time.Since(start), b: got, err: err}
				return
			}
		}
	}()
	return ch
}

// lcSleepUntil sleeps until start+d, then lets every goroutine woken at
// that instant (timers of links that fire at the same instant) run.
func lcSleepUntil(start time.Time, d time.Duration) {
	time.Sleep(time.Until(start.Add(d)))
	synctest.Wait()
}

func TestLifecycleDialAsymmetricLinks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{})
		n.Host("a")
		n.Host("b")
		require.NoError(t, n.SetLink("a", "b", faultconn.Profile{Latency: 10 * time.Millisecond}))
		require.NoError(t, n.SetLink("b", "a", faultconn.Profile{Latency: 30 * time.Millisecond}))
		ln := lcListen(t, n, "b", ":80")

		start := time.Now()
		accepted := make(chan lcResult, 1)
		var sc net.Conn
		go func() {
			s, err := ln.Accept()
			sc = s
			accepted <- lcResult{at: time.Since(start), err: err}
		}()
		c, err := n.Host("a").Dial("tcp", "b:80")
		require.NoError(t, err)
		require.Equal(t, 40*time.Millisecond, time.Since(start), "dial = one RTT = 10ms + 30ms")
		acc := <-accepted
		require.NoError(t, acc.err)

		require.Equal(t, c.LocalAddr().String(), sc.RemoteAddr().String())
		require.Equal(t, c.RemoteAddr().String(), sc.LocalAddr().String())
		require.Equal(t, "198.18.0.2:80", c.RemoteAddr().String())
		require.Equal(t, "198.18.0.1:49152", c.LocalAddr().String())
		require.IsType(t, &net.TCPAddr{}, sc.RemoteAddr())

		// Each direction has its own latency.
		t0 := time.Now()
		_, err = c.Write([]byte("up"))
		require.NoError(t, err)
		_, err = sc.Write([]byte("down"))
		require.NoError(t, err)
		buf := make([]byte, 8)
		k, err := sc.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "up", string(buf[:k]))
		require.Equal(t, 10*time.Millisecond, time.Since(t0))
		k, err = c.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "down", string(buf[:k]))
		require.Equal(t, 30*time.Millisecond, time.Since(t0))
		n.Close()
	})
}

func TestLifecycleCloseDeliversEOFAfterData(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       faultconn.Profile
		wantEOF time.Duration
	}{
		// Data and FIN both arrive one latency after the write.
		{"latency", faultconn.Profile{Latency: 10 * time.Millisecond}, 10 * time.Millisecond},
		// 1000 bytes cut into 100-byte segments at 10 kB/s: segment k
		// leaves at k·10ms and arrives 10ms later; the FIN follows the
		// last one.
		{"bandwidth", faultconn.Profile{Latency: 10 * time.Millisecond, Bandwidth: 10_000, Segment: 100}, 110 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := lcNet(t, netsim.Config{Default: tc.p})
				ln := lcListen(t, n, "b", ":80")
				c, s := lcPair(t, n, ln, "a", "b:80")

				start := time.Now()
				msg := make([]byte, 1000)
				for i := range msg {
					msg[i] = byte(i)
				}
				got := lcReadAll(start, s)
				_, err := c.Write(msg)
				require.NoError(t, err)
				require.NoError(t, c.Close())
				require.Zero(t, time.Since(start), "Write and Close never block on a free window")

				r := <-got
				require.Equal(t, io.EOF, r.err, "a bare io.EOF, not wrapped")
				require.Equal(t, msg, r.b)
				require.Equal(t, tc.wantEOF, r.at)

				_, err = c.Write([]byte("x"))
				require.ErrorIs(t, err, net.ErrClosed)
				_, err = c.Read(make([]byte, 1))
				require.ErrorIs(t, err, net.ErrClosed)
				require.ErrorIs(t, c.Close(), net.ErrClosed)
				s.Close()
				n.Close()
			})
		})
	}
}

func TestLifecycleCloseWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		c, s := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()

		type halfCloser interface{ CloseWrite() error }
		_, err := c.Write([]byte("ping"))
		require.NoError(t, err)
		require.NoError(t, c.(halfCloser).CloseWrite())
		_, err = c.Write([]byte("more"))
		require.ErrorIs(t, err, syscall.EPIPE, "write after shutdown(SHUT_WR)")

		req := <-lcReadAll(start, s)
		require.Equal(t, io.EOF, req.err)
		require.Equal(t, "ping", string(req.b))
		require.Equal(t, 10*time.Millisecond, req.at)

		// The half-closed side still reads what the peer writes back.
		got := lcReadAll(start, c)
		_, err = s.Write([]byte("pong"))
		require.NoError(t, err)
		require.NoError(t, s.Close())
		resp := <-got
		require.Equal(t, io.EOF, resp.err)
		require.Equal(t, "pong", string(resp.b))
		require.Equal(t, 20*time.Millisecond, resp.at)
		c.Close()
		n.Close()
	})
}

func TestLifecycleCloseWithUnreadDataResetsPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		c, s := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()

		_, err := s.Write([]byte("never read"))
		require.NoError(t, err)
		got := lcReadAll(start, s)
		lcSleepUntil(start, 50*time.Millisecond) // arrived at 10ms, unread
		require.NoError(t, c.Close())

		r := <-got
		require.ErrorIs(t, r.err, syscall.ECONNRESET)
		require.NotErrorIs(t, r.err, faultconn.ErrInjected, "a reset by the peer's stack is not injected")
		var op *net.OpError
		require.ErrorAs(t, r.err, &op)
		require.Equal(t, "read", op.Op)
		require.Empty(t, r.b)
		require.Equal(t, 60*time.Millisecond, r.at)

		_, err = s.Write([]byte("x"))
		require.ErrorIs(t, err, syscall.EPIPE, "the reset was reported once, to the read (Linux)")
		_, err = s.Read(make([]byte, 1))
		require.Equal(t, io.EOF, err, "and reads then see end of stream")
		s.Close()
		n.Close()
	})
}

func TestLifecycleWriteAfterPeerClosedIsEPIPE(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		a, b := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()

		require.NoError(t, a.Close()) // FIN
		r := <-lcReadAll(start, b)
		require.Equal(t, io.EOF, r.err)
		require.Equal(t, 10*time.Millisecond, r.at)

		// CLOSE_WAIT: writing is still allowed; the data reaches the closed
		// socket at 20ms, whose stack answers with a reset that arrives at
		// 30ms.
		_, err := b.Write([]byte("first"))
		require.NoError(t, err)
		lcSleepUntil(start, 29*time.Millisecond)
		_, err = b.Write([]byte("second"))
		require.NoError(t, err, "the reset has not arrived yet")
		lcSleepUntil(start, 30*time.Millisecond)
		_, err = b.Write([]byte("third"))
		require.ErrorIs(t, err, syscall.EPIPE)
		var op *net.OpError
		require.ErrorAs(t, err, &op)
		require.Equal(t, "write", op.Op)
		// Reading after end of stream still says end of stream.
		_, err = b.Read(make([]byte, 1))
		require.Equal(t, io.EOF, err)
		b.Close()
		n.Close()
	})
}

// TestLifecycleDataToAClosedSocketIsDropped: data that reaches a closed
// socket is dropped there, counted and traced at its arrival under its
// send's number (a trace reader would otherwise see it in flight for
// ever), and answered with one reset.
func TestLifecycleDataToAClosedSocketIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(0)
		n := lcNet(t, netsim.Config{Trace: tr, Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		a, b := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()
		t0 := start.Sub(tr.Start())

		require.NoError(t, a.Close())
		_, err := b.Write([]byte("first")) // arrives at 10ms, at a closed socket
		require.NoError(t, err)
		lcSleepUntil(start, 5*time.Millisecond)
		_, err = b.Write([]byte("second")) // arrives at 15ms
		require.NoError(t, err)
		lcSleepUntil(start, time.Second)

		var sends, drops, resets []faultconn.Event
		for _, e := range tr.Events() {
			switch {
			case e.Dir != faultconn.In:
			case e.Kind == faultconn.KindSend:
				sends = append(sends, e)
			case e.Kind == faultconn.KindDrop:
				drops = append(drops, e)
			}
			if e.Kind == faultconn.KindReset {
				resets = append(resets, e)
			}
		}
		require.Len(t, sends, 2)
		require.Len(t, drops, 2, "each segment that reached the closed socket is traced as dropped")
		for i, d := range drops {
			require.Equal(t, sends[i].Seq, d.Seq, "a drop on arrival has its send's number")
			require.Equal(t, sends[i].Size, d.Size)
		}
		require.Equal(t, t0+10*time.Millisecond, drops[0].Time)
		require.Equal(t, t0+15*time.Millisecond, drops[1].Time)
		require.Len(t, resets, 1, "one reset answers them")
		require.Equal(t, t0+10*time.Millisecond, resets[0].Time)
		require.EqualValues(t, 2, b.(*netsim.Conn).Stats().Out.Dropped)
		b.Close()
		n.Close()
	})
}

func TestLifecycleLingerZeroResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		c, s := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()

		got := lcReadAll(start, s)
		require.NoError(t, c.(*netsim.Conn).SetLinger(0))
		require.NoError(t, c.Close())
		r := <-got
		require.ErrorIs(t, r.err, syscall.ECONNRESET)
		require.Equal(t, 10*time.Millisecond, r.at)
		s.Close()
		n.Close()
	})
}

func TestLifecycleRefusedAfterOneRTT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{})
		n.Host("a")
		n.Host("b")
		require.NoError(t, n.SetLink("a", "b", faultconn.Profile{Latency: 10 * time.Millisecond}))
		require.NoError(t, n.SetLink("b", "a", faultconn.Profile{Latency: 30 * time.Millisecond}))
		start := time.Now()
		_, err := n.Host("a").Dial("tcp", "b:81")
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		var op *net.OpError
		require.ErrorAs(t, err, &op)
		require.Equal(t, "dial", op.Op)
		require.Equal(t, "198.18.0.2:81", op.Addr.String())
		require.Equal(t, 40*time.Millisecond, time.Since(start))
		n.Close()
	})
}

func TestLifecycleUnknownHost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		start := time.Now()
		_, err := n.Host("a").Dial("tcp", "nowhere:80")
		var dns *net.DNSError
		require.ErrorAs(t, err, &dns)
		require.True(t, dns.IsNotFound)
		require.Equal(t, "nowhere", dns.Name)
		require.Zero(t, time.Since(start))
		n.Close()
	})
}

func TestLifecycleReadDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		c, s := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()

		require.NoError(t, c.SetReadDeadline(start.Add(250*time.Millisecond)))
		_, err := c.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout())
		require.Equal(t, 250*time.Millisecond, time.Since(start))

		// Re-armed after expiry, and data before the deadline wins.
		require.NoError(t, c.SetReadDeadline(start.Add(time.Second)))
		_, err = s.Write([]byte("x"))
		require.NoError(t, err)
		k, err := c.Read(make([]byte, 1))
		require.NoError(t, err)
		require.Equal(t, 1, k)
		require.Equal(t, 260*time.Millisecond, time.Since(start))
		c.Close()
		s.Close()
		n.Close()
	})
}

// Backlog: a listener that never accepts queues Config.Backlog
// connections; later attempts go unanswered and are retried like Linux's
// SYN retries (the first SYN at 0, retransmissions at 1, 3, 7, 15, 31 and
// 63s), failing with ETIMEDOUT at 127s.

// lcFillBacklog dials twice (at 0 and 20ms, 10ms each way), filling a
// backlog of 2.
func lcFillBacklog(t *testing.T) (*netsim.Network, net.Listener) {
	t.Helper()
	n := lcNet(t, netsim.Config{Backlog: 2, Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
	ln := lcListen(t, n, "b", ":80")
	for range 2 {
		start := time.Now()
		_, err := n.Host("a").Dial("tcp", "b:80")
		require.NoError(t, err)
		require.Equal(t, 20*time.Millisecond, time.Since(start))
	}
	return n, ln
}

func TestBacklogFullDialTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, _ := lcFillBacklog(t)
		start := time.Now()
		_, err := n.Host("a").Dial("tcp", "b:80")
		require.ErrorIs(t, err, syscall.ETIMEDOUT)
		require.NotErrorIs(t, err, faultconn.ErrInjected, "a full backlog is a limit, not an injected fault")
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout())
		require.Equal(t, 127*time.Second, time.Since(start), "Linux: tcp_syn_retries=6, 1+2+4+...+64 s")
		n.Close()
	})
}

func TestBacklogFullDialContextDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, _ := lcFillBacklog(t)
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := n.Host("a").DialContext(ctx, "tcp", "b:80")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout())
		require.Equal(t, 5*time.Second, time.Since(start))
		n.Close()
	})
}

func TestBacklogAcceptLetsRetriedDialIn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, ln := lcFillBacklog(t)
		start := time.Now()
		go func() {
			time.Sleep(3 * time.Second)
			if c, err := ln.Accept(); err == nil {
				c.Close()
			}
		}()
		// SYNs leave at 0, 1s and 3s and arrive 10ms later: the one that
		// leaves at 3s finds the slot Accept freed at 3s.
		c, err := n.Host("a").Dial("tcp", "b:80")
		require.NoError(t, err)
		require.Equal(t, 3*time.Second+20*time.Millisecond, time.Since(start))
		require.Equal(t, "198.18.0.2:49154", c.LocalAddr().String(), "b was created first")
		n.Close()
	})
}

// Partitions.

func TestPartitionDialTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		lcListen(t, n, "b", ":80")
		n.Partition([]string{"a"}, []string{"b"})
		require.False(t, n.Reachable("a", "b"))
		require.False(t, n.Reachable("b", "a"))
		start := time.Now()
		_, err := n.Host("a").Dial("tcp", "b:80")
		require.ErrorIs(t, err, syscall.ETIMEDOUT)
		require.Equal(t, 127*time.Second, time.Since(start))
		n.Close()
	})
}

func TestPartitionDialSucceedsAtRetryAfterHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		lcListen(t, n, "b", ":80")
		n.Partition([]string{"a"}, []string{"b"})
		start := time.Now()
		go func() {
			time.Sleep(5 * time.Second)
			n.Heal()
		}()
		_, err := n.Host("a").Dial("tcp", "b:80")
		require.NoError(t, err)
		require.Equal(t, 7*time.Second+20*time.Millisecond, time.Since(start), "the SYN retransmitted at 7s")
		n.Close()
	})
}

func TestPartitionStallsDataUntilRetransmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		c, s := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()

		n.Partition([]string{"a"}, []string{"b"})
		got := make(chan lcResult, 1)
		go func() {
			buf := make([]byte, 16)
			k, err := s.Read(buf)
			got <- lcResult{at: time.Since(start), b: buf[:k], err: err}
		}()
		_, err := c.Write([]byte("stalled"))
		require.NoError(t, err, "a write during a partition is only queued")
		require.Zero(t, time.Since(start))
		go func() {
			time.Sleep(time.Second)
			n.Heal()
		}()
		// Sent at 0 and lost; retransmitted at 200ms, 600ms, 1400ms (RTO
		// 200ms doubling); the partition ends at 1s; the retransmission of
		// 1400ms arrives 10ms later.
		r := <-got
		require.NoError(t, r.err)
		require.Equal(t, "stalled", string(r.b))
		require.Equal(t, 1410*time.Millisecond, r.at)
		st := c.(*netsim.Conn).Stats()
		require.Equal(t, uint64(3), st.Out.Retransmitted)
		s.Close()
		n.Close()
	})
}

func TestPartitionOutlastingRetransmissionsTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		ln := lcListen(t, n, "b", ":80")
		c, s := lcPair(t, n, ln, "a", "b:80")
		start := time.Now()

		n.Partition([]string{"a"}, []string{"b"})
		writerSide := lcReadAll(start, c)
		peerSide := lcReadAll(start, s)
		_, err := c.Write([]byte("lost"))
		require.NoError(t, err)

		// RTOs 0.2, 0.4, ..., 102.4s, then 120s (TCP_RTO_MAX) six times:
		// the 15th retransmission is lost and the writer gives up at 924.6s.
		giveUp := 924600 * time.Millisecond
		r := <-writerSide
		require.ErrorIs(t, r.err, syscall.ETIMEDOUT)
		require.ErrorIs(t, r.err, faultconn.ErrInjected)
		require.Equal(t, giveUp, r.at)
		_, err = c.Write([]byte("x"))
		require.ErrorIs(t, err, syscall.EPIPE, "the timeout was reported once, to the read (Linux)")
		require.Equal(t, uint64(15), c.(*netsim.Conn).Stats().Out.Retransmitted)

		// The peer sees nothing, even long after, and after the partition
		// heals.
		n.Heal()
		lcSleepUntil(start, giveUp+time.Hour)
		select {
		case r := <-peerSide:
			t.Fatalf("peer's read returned at %v: %q %v", r.at, r.b, r.err)
		default:
		}
		n.Close()
		r = <-peerSide
		require.ErrorIs(t, r.err, net.ErrClosed)
		require.Equal(t, giveUp+time.Hour, r.at)
	})
}

func TestIsolateAndHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		lcListen(t, n, "b", ":80")
		lcListen(t, n, "c", ":80")
		n.Isolate("b")
		require.False(t, n.Reachable("a", "b"))
		require.False(t, n.Reachable("c", "b"))
		require.True(t, n.Reachable("a", "c"))

		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := n.Host("a").DialContext(ctx, "tcp", "b:80")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, 2*time.Second, time.Since(start))

		start = time.Now()
		_, err = n.Host("a").Dial("tcp", "c:80")
		require.NoError(t, err, "other hosts still reach each other")
		require.Equal(t, 20*time.Millisecond, time.Since(start))

		n.Heal()
		require.True(t, n.Reachable("a", "b"))
		start = time.Now()
		_, err = n.Host("a").Dial("tcp", "b:80")
		require.NoError(t, err)
		require.Equal(t, 20*time.Millisecond, time.Since(start))
		n.Close()
	})
}

func TestPartitionDropsDatagrams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		pa, err := n.Host("a").ListenPacket("udp", ":5000")
		require.NoError(t, err)
		pb, err := n.Host("b").ListenPacket("udp", ":5000")
		require.NoError(t, err)
		start := time.Now()

		n.Partition([]string{"a"}, []string{"b"})
		_, err = pa.WriteTo([]byte("lost"), pb.LocalAddr())
		require.NoError(t, err, "UDP sends succeed into a partition")
		require.NoError(t, pb.SetReadDeadline(start.Add(time.Second)))
		buf := make([]byte, 16)
		_, _, err = pb.ReadFrom(buf)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.Equal(t, time.Second, time.Since(start))

		n.Heal()
		require.NoError(t, pb.SetReadDeadline(time.Time{}))
		_, err = pa.WriteTo([]byte("ok"), pb.LocalAddr())
		require.NoError(t, err)
		k, from, err := pb.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, "ok", string(buf[:k]), "the datagram sent during the partition is gone")
		require.Equal(t, pa.LocalAddr().String(), from.String())
		require.Equal(t, time.Second+10*time.Millisecond, time.Since(start))
		n.Close()
	})
}

// Network.Close.

func TestNetworkCloseUnblocksEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := lcNet(t, netsim.Config{Window: 1024, Default: faultconn.Profile{Latency: time.Hour}})
		ln := lcListen(t, n, "b", ":80")
		idle := lcListen(t, n, "b", ":81")
		c, s := lcPair(t, n, ln, "a", "b:80")
		pc, err := n.Host("c").ListenPacket("udp", ":53")
		require.NoError(t, err)
		lcListen(t, n, "d", ":80")
		n.Partition([]string{"a"}, []string{"d"})
		start := time.Now()

		results := make(chan lcResult, 5)
		report := func(name string, k int, err error) {
			results <- lcResult{name: name, at: time.Since(start), n: k, err: err}
		}
		go func() { _, err := idle.Accept(); report("accept", 0, err) }()
		go func() { k, err := s.Read(make([]byte, 1)); report("read", k, err) }()
		go func() { k, err := c.Write(make([]byte, 2048)); report("write", k, err) }()
		go func() { _, err := n.Host("a").Dial("tcp", "d:80"); report("dial", 0, err) }()
		go func() { k, _, err := pc.ReadFrom(make([]byte, 1)); report("readfrom", k, err) }()

		time.Sleep(time.Minute)
		synctest.Wait()
		require.Empty(t, results, "everything is blocked")
		require.NoError(t, n.Close())
		require.NoError(t, n.Close(), "Close is idempotent")
		seen := map[string]bool{}
		for range 5 {
			r := <-results
			seen[r.name] = true
			require.ErrorIs(t, r.err, net.ErrClosed, r.name)
			require.Equal(t, time.Minute, r.at, r.name)
			if r.name == "write" {
				require.Equal(t, 1024, r.n, "the window took 1024 bytes before the writer blocked")
			}
		}
		require.Len(t, seen, 5)

		// Everything fails with net.ErrClosed afterwards.
		_, err = c.Read(make([]byte, 1))
		require.ErrorIs(t, err, net.ErrClosed)
		_, err = s.Write([]byte("x"))
		require.ErrorIs(t, err, net.ErrClosed)
		_, err = ln.Accept()
		require.ErrorIs(t, err, net.ErrClosed)
		_, _, err = pc.ReadFrom(make([]byte, 1))
		require.ErrorIs(t, err, net.ErrClosed)
		_, err = n.Host("a").Dial("tcp", "b:80")
		require.ErrorIs(t, err, net.ErrClosed)
		_, err = n.Host("b").Listen("tcp", ":82")
		require.ErrorIs(t, err, net.ErrClosed)
		select {
		case <-n.Done():
		default:
			t.Fatal("Done not closed")
		}
	})
}
