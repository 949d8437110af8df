package faultconn_test

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
)

// Regression tests for what issue 9 found in faultconn: each failed before
// Close became close(2) and the engine got one set of connection rules.

// TestRegressCloseDoesNotWaitForFlight: Close once blocked for the whole
// flight time (an hour of latency), and forever when retransmissions gave
// up during it.
func TestRegressCloseDoesNotWaitForFlight(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    faultconn.Profile
		done time.Duration // when delivery ends
		err  error         // what Err then says
	}{
		{"latency1h", faultconn.Profile{Latency: time.Hour}, time.Hour, nil},
		{"loss100%", faultconn.Profile{Latency: 10 * time.Millisecond, Loss: 1}, 924600 * time.Millisecond, syscall.ETIMEDOUT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := pipePair(t, faultconn.Config{Out: tc.p}, faultconn.Profile{})
				start := time.Now()
				got := make(chan []byte, 1)
				go func() {
					d, _ := io.ReadAll(b)
					got <- d
				}()
				_, err := a.Write([]byte("in flight"))
				require.NoError(t, err)
				require.NoError(t, a.Close())
				require.Equal(t, time.Duration(0), time.Since(start), "Close returns at once")
				<-a.Done()
				require.Equal(t, tc.done, time.Since(start), "delivery ends")
				if tc.err == nil {
					require.NoError(t, a.Err())
					require.Equal(t, "in flight", string(<-got))
				} else {
					require.ErrorIs(t, a.Err(), tc.err)
					require.Empty(t, <-got, "net.Pipe cannot carry the reset: end of stream, and Err says why")
				}
			})
		})
	}
}

// TestRegressHealRescuesInFlight: bytes written while the Out profile lost
// everything once never arrived after a heal (every retransmission's fate
// was drawn at the first send).
func TestRegressHealRescuesInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{Out: faultconn.Profile{Latency: 10 * time.Millisecond}}, faultconn.Profile{})
		start := time.Now()
		require.NoError(t, a.SetProfiles(faultconn.Profile{Latency: 10 * time.Millisecond, Loss: 1}, faultconn.Profile{}))
		_, err := a.Write([]byte("rescued"))
		require.NoError(t, err)
		time.Sleep(time.Second)
		require.NoError(t, a.SetProfiles(faultconn.Profile{Latency: 10 * time.Millisecond}, faultconn.Profile{}))
		buf := make([]byte, 16)
		n, err := b.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "rescued", string(buf[:n]))
		require.Equal(t, 1410*time.Millisecond, time.Since(start), "at the first retransmission after the heal (1.4s)")
	})
}

// TestRegressPartitionAndHeal: a Conn can be partitioned and healed, like
// a netsim link: the data waits for the heal, retransmitted on the RTO
// schedule.
func TestRegressPartitionAndHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{Out: faultconn.Profile{Latency: 10 * time.Millisecond}}, faultconn.Profile{})
		start := time.Now()
		a.Partition()
		go a.Write([]byte("waits"))
		time.Sleep(500 * time.Millisecond)
		a.Heal()
		buf := make([]byte, 8)
		n, err := b.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "waits", string(buf[:n]))
		require.Equal(t, 610*time.Millisecond, time.Since(start), "lost at 10ms and 210ms, through at 610ms")
		require.Equal(t, uint64(2), a.Stats().Out.Retransmitted)
	})
}

// TestRegressDialerPartition: a Dialer's Partition cuts the conns it
// dialed and the ones it dials before Heal.
func TestRegressDialerPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		peers := make(chan net.Conn, 2)
		d := &faultconn.Dialer{Config: faultconn.Config{Out: faultconn.Profile{Latency: 10 * time.Millisecond}}, Base: func(context.Context, string, string) (net.Conn, error) {
			c1, c2 := net.Pipe()
			peers <- c2
			return c1, nil
		}}
		before, err := d.Dial("tcp", "x:1")
		require.NoError(t, err)
		d.Partition()
		after, err := d.Dial("tcp", "x:1")
		require.NoError(t, err)
		start := time.Now()
		for _, c := range []net.Conn{before, after} {
			go c.Write([]byte("hi"))
		}
		time.Sleep(300 * time.Millisecond)
		d.Heal()
		for range 2 {
			p := <-peers
			buf := make([]byte, 2)
			_, err := io.ReadFull(p, buf)
			require.NoError(t, err)
			require.Equal(t, 610*time.Millisecond, time.Since(start))
			p.Close()
		}
		before.Close()
		after.Close()
		<-before.(*faultconn.Conn).Done()
		<-after.(*faultconn.Conn).Done()
	})
}

// TestRegressResetNow: Reset resets a conn at once: its reads fail, and
// the wrapped TCP conn's real peer sees ECONNRESET.
func TestRegressResetNow(t *testing.T) {
	c, s, stop, err := tcpPair(t, faultconn.Config{})
	require.NoError(t, err)
	defer stop()
	peer := s.(*faultconn.Conn).Unwrap()
	c.(*faultconn.Conn).Reset()
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET)
	require.ErrorIs(t, err, faultconn.ErrInjected)
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = peer.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET)
}

// TestRegressCloseWithUnreadInResets: with In faults, Close with unread
// data once sent a FIN; Linux sends a reset, and so does faultconn.
func TestRegressCloseWithUnreadInResets(t *testing.T) {
	c, s, stop, err := tcpPair(t, faultconn.Config{In: faultconn.Profile{Latency: time.Millisecond}})
	require.NoError(t, err)
	defer stop()
	_, err = s.Write([]byte("never read"))
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond) // real time: arrived, unread (nothing is asserted about time)
	require.NoError(t, c.Close())
	<-c.(*faultconn.Conn).Done()
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = s.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET, "the peer's stack saw a real RST")
	require.NotErrorIs(t, err, faultconn.ErrInjected)
}

// TestRegressNonsense: nil conns and use after Close are errors, not
// panics or silent successes.
func TestRegressNonsense(t *testing.T) {
	_, err := faultconn.Wrap(nil, faultconn.Config{})
	require.ErrorContains(t, err, "faultconn: Wrap")
	c1, _ := net.Pipe()
	c, err := faultconn.Wrap(c1, faultconn.Config{})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.SetProfiles(faultconn.Profile{}, faultconn.Profile{}), net.ErrClosed)
	<-c.Done()
}

// Found by the conformance matrix (internal/conformance).

// TestRegressPipePeerClosedErrors: over net.Pipe, once the peer closed,
// the pipe's io.ErrClosedPipe leaked out of SetDeadline and Write. A TCP
// conn whose peer closed accepts a deadline (nil) and fails writes with
// EPIPE; faultconn maps the pipe's errors to those, on the direct path
// (no faults) and through the Out pump (faults).
func TestRegressPipePeerClosedErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  faultconn.Profile
	}{{"direct", faultconn.Profile{}}, {"pump", faultconn.Profile{Latency: 10 * time.Millisecond}}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := pipePair(t, faultconn.Config{Out: tc.out}, faultconn.Profile{})
				require.NoError(t, b.Close())
				<-b.Done()
				require.NoError(t, a.SetDeadline(time.Now().Add(time.Hour)), "the peer's close does not close this end")
				require.NoError(t, a.SetReadDeadline(time.Time{}))
				require.NoError(t, a.SetWriteDeadline(time.Time{}))
				_, err := a.Read(make([]byte, 1))
				require.Equal(t, io.EOF, err)
				var werr error
				for range 3 { // the pump's write fails after the latency
					_, werr = a.Write([]byte("to a closed peer"))
					if werr != nil {
						break
					}
					time.Sleep(time.Second)
				}
				require.ErrorIs(t, werr, syscall.EPIPE)
				require.NotErrorIs(t, werr, io.ErrClosedPipe)
				_, err = a.Read(make([]byte, 1))
				require.Equal(t, io.EOF, err, "reads still give end of stream, never the pipe's error")
			})
		})
	}
}

// TestRegressLostResetDoesNotHangDone: a reset lost to a partition is
// never retransmitted, so the Out pump of a reset Conn waited for it
// forever and Done never came after Close. Now the pump ends once
// nothing is in flight, and resets the wrapped conn.
func TestRegressLostResetDoesNotHangDone(t *testing.T) {
	for _, mode := range []faultconn.Mode{faultconn.Stream, faultconn.Segments} {
		t.Run(mode.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := pipePair(t, faultconn.Config{Mode: mode, Out: faultconn.Profile{Latency: 10 * time.Millisecond}}, faultconn.Profile{})
				start := time.Now()
				a.Partition()
				a.Reset()
				time.Sleep(time.Second) // the reset arrived at 10ms, into the partition
				a.Heal()
				require.NoError(t, a.Close())
				<-a.Done()
				require.Equal(t, time.Second, time.Since(start), "done at Close: nothing was in flight")
				_, err := b.Read(make([]byte, 1))
				require.Equal(t, io.EOF, err, "net.Pipe cannot carry the reset: end of stream")
			})
		})
	}
}

// TestRegressResetAfterEOFReadsEOF: once a read returned end of stream
// from the wrapped conn directly, a reset now made later reads fail with
// ECONNRESET; Linux keeps giving end of stream after a FIN was read, and
// so does faultconn. Writes fail with the reset, once, then EPIPE.
func TestRegressResetAfterEOFReadsEOF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{Out: faultconn.Profile{Latency: time.Millisecond}}, faultconn.Profile{})
		require.NoError(t, a.Close())
		_, err := b.Read(make([]byte, 1))
		require.Equal(t, io.EOF, err)
		b.Reset()
		_, err = b.Read(make([]byte, 1))
		require.Equal(t, io.EOF, err, "end of stream stays")
		_, err = b.Write([]byte("x"))
		require.ErrorIs(t, err, syscall.ECONNRESET)
		_, err = b.Write([]byte("x"))
		require.ErrorIs(t, err, syscall.EPIPE)
	})
}

// TestRegressDirectResetReportedOnce: a reset met on the direct path (a
// read straight from the wrapped TCP conn) was not known to the
// connection's rules, so a later reset now reported ECONNRESET a second
// time. A connection error is reported once, whichever path meets it.
func TestRegressDirectResetReportedOnce(t *testing.T) {
	c, s, stop, err := tcpPair(t, faultconn.Config{})
	require.NoError(t, err)
	defer stop()
	s.(*faultconn.Conn).Unwrap().(*net.TCPConn).SetLinger(0)
	require.NoError(t, s.Close())
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET, "the real reset, read directly")
	c.(*faultconn.Conn).Reset()
	_, err = c.Write([]byte("x"))
	require.ErrorIs(t, err, syscall.EPIPE, "reported once: then EPIPE")
	_, err = c.Read(make([]byte, 1))
	require.Equal(t, io.EOF, err)
}

// TestRegressStaleRawWriteDeadline: a write deadline the user set on the
// wrapped conn just as the Out pump took writes over (SetWriteDeadline
// saw no pump yet) stays on the wrapped conn; the pump's writes then all
// timed out at once and it retried them for ever, spinning, delivering
// nothing. Here the stale deadline is set on the wrapped conn directly.
// Real time: a bubble cannot advance past a spinning goroutine.
func TestRegressStaleRawWriteDeadline(t *testing.T) {
	p1, p2 := net.Pipe()
	defer p2.Close()
	a, err := faultconn.Wrap(p1, faultconn.Config{Out: faultconn.Profile{Latency: time.Millisecond}})
	require.NoError(t, err)
	defer func() { a.Close(); <-a.Done() }()
	_, err = a.Write([]byte("first")) // the Out pump runs
	require.NoError(t, err)
	buf := make([]byte, 16)
	n, err := p2.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "first", string(buf[:n]))

	require.NoError(t, p1.SetWriteDeadline(time.Now())) // the stale deadline
	_, err = a.Write([]byte("second"))
	require.NoError(t, err)
	p2.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err = p2.Read(buf)
	require.NoError(t, err, "the pump delivers despite the stale deadline")
	require.Equal(t, "second", string(buf[:n]))
}

// TestDataToAClosedConnIsDropped: data still on its way in when the Conn
// closes reaches a closed reader: it is counted as Dropped and traced as
// a drop under its send's number at its arrival, as netsim's are (the
// engine's rule, shared by both front ends).
func TestDataToAClosedConnIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(0)
		a, b := pipePair(t, faultconn.Config{Trace: tr, In: faultconn.Profile{Latency: 10 * time.Millisecond}}, faultconn.Profile{})
		start := time.Now()
		t0 := start.Sub(tr.Start())
		go b.Write([]byte("late"))
		synctest.Wait() // a's In pump has it: it arrives at 10ms
		require.NoError(t, a.Close())
		time.Sleep(time.Second)

		var send, drop *faultconn.Event
		for _, e := range tr.Events() {
			if e.Link == "a" && e.Dir == faultconn.In {
				switch e.Kind {
				case faultconn.KindSend:
					send = &e
				case faultconn.KindDrop:
					drop = &e
				}
			}
		}
		require.NotNil(t, send)
		require.NotNil(t, drop, "the arrival at the closed reader is traced")
		require.Equal(t, send.Seq, drop.Seq)
		require.Equal(t, 4, drop.Size)
		require.Equal(t, t0+10*time.Millisecond, drop.Time)
		require.EqualValues(t, 1, a.Stats().In.Dropped)
	})
}
