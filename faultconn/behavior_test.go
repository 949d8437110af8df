package faultconn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
)

// This file checks the behaviour DESIGN.md promises, at exact virtual
// instants where time matters: the error table, Stream and Segments modes,
// SetProfiles, the listener and dialer wrappers, the packet wrapper and
// config validation.

// bhvOpErr checks that err is a *net.OpError (not merely one in its chain)
// wrapping target, as a real socket reports it.
func bhvOpErr(t *testing.T, err error, target error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	_, ok := err.(*net.OpError)
	require.True(t, ok, "want *net.OpError, got %T: %v", err, err)
	require.ErrorIs(t, err, target, msgAndArgs...)
}

// bhvTimeout checks a deadline error: *net.OpError wrapping
// os.ErrDeadlineExceeded, with Timeout() true.
func bhvTimeout(t *testing.T, err error) {
	t.Helper()
	bhvOpErr(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "Timeout() of %v", err)
}

// bhvRandom returns n bytes from a PCG seeded with seed.
func bhvRandom(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// bhvProfiles are the two ways a direction is carried: straight through to
// the wrapped conn (no faults) or through the engine and a pump.
var bhvProfiles = []struct {
	name string
	p    faultconn.Profile
}{
	{"direct", faultconn.Profile{}},
	{"faulted", faultconn.Profile{Latency: 10 * time.Millisecond}},
}

// --- 1. The error table -------------------------------------------------

func TestBehaviorUseAfterLocalClose(t *testing.T) {
	for _, tc := range bhvProfiles {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, _ := pipePair(t, faultconn.Config{Out: tc.p, In: tc.p}, tc.p)
				require.NoError(t, a.Close())
				_, err := a.Read(make([]byte, 1))
				bhvOpErr(t, err, net.ErrClosed, "Read")
				_, err = a.Write([]byte("x"))
				bhvOpErr(t, err, net.ErrClosed, "Write")
				bhvOpErr(t, a.SetDeadline(time.Now().Add(time.Second)), net.ErrClosed, "SetDeadline")
				bhvOpErr(t, a.SetReadDeadline(time.Time{}), net.ErrClosed, "SetReadDeadline")
				bhvOpErr(t, a.SetWriteDeadline(time.Time{}), net.ErrClosed, "SetWriteDeadline")
				bhvOpErr(t, a.Close(), net.ErrClosed, "second Close")
			})
		})
	}
}

// TestBehaviorCloseWakesBlockedCalls checks that Close wakes a Read and a
// Write blocked at the time, both failing with net.ErrClosed.
func TestBehaviorCloseWakesBlockedCalls(t *testing.T) {
	for _, tc := range bhvProfiles {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// A one-byte window and an hour of latency keep the faulted
				// Write blocked; nobody reads b, so the direct Write blocks
				// in net.Pipe.
				p := tc.p
				if p.Latency > 0 {
					p.Latency = time.Hour
				}
				a, _ := pipePair(t, faultconn.Config{Out: p, In: p, Window: 1}, faultconn.Profile{})
				readErr, writeErr := make(chan error, 1), make(chan error, 1)
				go func() {
					_, err := a.Read(make([]byte, 1))
					readErr <- err
				}()
				go func() {
					_, err := a.Write([]byte("xy"))
					writeErr <- err
				}()
				synctest.Wait()
				start := time.Now()
				closed := make(chan time.Duration, 1)
				go func() {
					a.Close()
					closed <- time.Since(start)
				}()
				bhvOpErr(t, <-readErr, net.ErrClosed, "blocked Read")
				bhvOpErr(t, <-writeErr, net.ErrClosed, "blocked Write")
				require.Equal(t, time.Duration(0), time.Since(start), "blocked calls return at once")
				// Close returns at once, like close(2); the byte in flight
				// (an hour) is still delivered, and b's In pump takes it.
				require.Equal(t, time.Duration(0), <-closed, "Close returns")
				<-a.Done()
				want := time.Duration(0)
				if p.Latency > 0 {
					want = time.Hour
				}
				require.Equal(t, want, time.Since(start), "done once delivered")
			})
		})
	}
}

// TestBehaviorCloseLinger checks Close's bound: Close returns at once, and
// delivery gives up after Linger without progress when the wrapped conn
// does not take the data; over net.Pipe the peer then sees end of stream
// (a pipe cannot carry a reset) and Err reports the loss.
func TestBehaviorCloseLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{Out: faultconn.Profile{Latency: 10 * time.Millisecond}, Linger: time.Second}, faultconn.Profile{})
		start := time.Now()
		_, err := a.Write([]byte("unread"))
		require.NoError(t, err)
		require.NoError(t, a.Close()) // nobody reads b: net.Pipe cannot take it
		require.Equal(t, time.Duration(0), time.Since(start), "Close does not wait")
		require.NoError(t, a.Err(), "delivery goes on")
		<-a.Done()
		require.Equal(t, 10*time.Millisecond+time.Second, time.Since(start))
		require.ErrorIs(t, a.Err(), syscall.ETIMEDOUT)
		got, err := io.ReadAll(b)
		require.NoError(t, err)
		require.Empty(t, got, "given up on")
	})
}

// TestBehaviorCloseSlowReader: a peer that reads slowly, with pauses longer
// than Linger, still gets everything after Close, then end of stream: only
// a peer that takes nothing for Linger is given up on.
func TestBehaviorCloseSlowReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{Out: faultconn.Profile{Segment: 7}}, faultconn.Profile{})
		data := bhvRandom(3, 20000)
		start := time.Now()
		go func() {
			a.Write(data)
			a.Close()
		}()
		var got []byte
		buf := make([]byte, 1000)
		for {
			time.Sleep(2 * time.Second) // seconds between reads
			n, err := io.ReadAtLeast(b, buf, 1)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
		}
		require.Equal(t, data, got, "every byte, then end of stream")
		<-a.Done()
		require.NoError(t, a.Err())
		require.Greater(t, time.Since(start), time.Minute, "slow, and never cut off")
	})
}

// TestBehaviorCloseLingerAfterArrival: data that has already arrived but
// that the wrapped conn has not taken yet (its peer starts reading late)
// is still delivered; Close returns at once.
func TestBehaviorCloseLingerAfterArrival(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{Out: faultconn.Profile{Segment: 10}}, faultconn.Profile{})
		start := time.Now()
		data := bhvRandom(2, 95)
		closed := make(chan time.Duration, 1)
		go func() {
			a.Write(data)
			a.Close()
			closed <- time.Since(start)
		}()
		time.Sleep(500 * time.Millisecond)
		got, err := io.ReadAll(b)
		closeAt := <-closed
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.Equal(t, time.Duration(0), closeAt)
	})
}

// TestBehaviorCloseWaitsForRetransmissions: in Stream mode, data written
// before Close still arrives whole, however many retransmissions it takes,
// while Close itself returns at once.
func TestBehaviorCloseWaitsForRetransmissions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{Seed: 0, Out: faultconn.Profile{Latency: 10 * time.Millisecond, Loss: 0.7}}, faultconn.Profile{})
		start := time.Now()
		closed := make(chan time.Duration, 1)
		go func() {
			a.Write([]byte("hello"))
			a.Close()
			closed <- time.Since(start)
		}()
		got, err := io.ReadAll(b)
		eof := time.Since(start)
		closeAt := <-closed
		require.NoError(t, err)
		k := a.Stats().Out.Retransmitted
		require.GreaterOrEqual(t, k, uint64(2), "the seed's fate: retransmitted")
		require.Equal(t, "hello", string(got), "the peer read a clean EOF at %v without the data", eof)
		// Sent at 0, 200ms, 600ms, 1.4s, …: the last send plus the latency.
		require.Equal(t, 200*time.Millisecond*time.Duration(1<<k-1)+10*time.Millisecond, eof)
		require.Equal(t, time.Duration(0), closeAt)
	})
}

func TestBehaviorPeerCloseIsEOF(t *testing.T) {
	for _, tc := range bhvProfiles {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The profile is on a's Out and on b's In: 2x its latency.
				a, b := pipePair(t, faultconn.Config{Out: tc.p, In: tc.p}, faultconn.Profile{})
				start := time.Now()
				go func() {
					a.Write([]byte("hello"))
					a.Close()
				}()
				got, err := io.ReadAll(b)
				require.NoError(t, err)
				require.Equal(t, "hello", string(got))
				require.Equal(t, 2*tc.p.Latency, time.Since(start), "EOF right after the data")
				for range 2 {
					n, err := b.Read(make([]byte, 8))
					require.Zero(t, n)
					require.True(t, err == io.EOF, "want bare io.EOF, got %#v", err)
				}
			})
		})
	}
}

func TestBehaviorWriteAfterCloseWriteIsEPIPE(t *testing.T) {
	for _, tc := range bhvProfiles {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			p.Latency = time.Millisecond
			if tc.name == "direct" {
				p = faultconn.Profile{}
			}
			c, s, stop, err := tcpPair(t, faultconn.Config{Out: p})
			require.NoError(t, err)
			defer stop()
			_, err = c.Write([]byte("last words"))
			require.NoError(t, err)
			require.NoError(t, c.(*faultconn.Conn).CloseWrite())
			_, err = c.Write([]byte("x"))
			bhvOpErr(t, err, syscall.EPIPE)
			// The peer reads what was written, then EOF, and can still answer.
			got, err := io.ReadAll(s)
			require.NoError(t, err)
			require.Equal(t, "last words", string(got))
			_, err = s.Write([]byte("ok"))
			require.NoError(t, err)
			buf := make([]byte, 2)
			_, err = io.ReadFull(c, buf)
			require.NoError(t, err)
			require.Equal(t, "ok", string(buf))
		})
	}
}

func TestBehaviorCloseWriteOnPipeIsUnsupported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := pipePair(t, faultconn.Config{}, faultconn.Profile{})
		bhvOpErr(t, a.CloseWrite(), errors.ErrUnsupported)
	})
}

func TestBehaviorDeadlines(t *testing.T) {
	for _, tc := range bhvProfiles {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := tc.p
				if p.Latency > 0 {
					p.Latency = time.Hour // nothing arrives before the deadlines
				}
				// Window 4: a faulted Write of 8 bytes blocks on the window;
				// a direct one blocks in net.Pipe, as nobody reads b.
				a, _ := pipePair(t, faultconn.Config{Out: p, In: p, Window: 4}, faultconn.Profile{})
				start := time.Now()
				require.NoError(t, a.SetReadDeadline(start.Add(3*time.Second)))
				require.NoError(t, a.SetWriteDeadline(start.Add(2*time.Second)))

				readErr := make(chan error, 1)
				var readAt time.Duration
				go func() {
					_, err := a.Read(make([]byte, 1))
					readAt = time.Since(start)
					readErr <- err
				}()
				n, err := a.Write([]byte("12345678"))
				bhvTimeout(t, err)
				require.Equal(t, 2*time.Second, time.Since(start), "write deadline instant")
				if tc.name == "faulted" {
					require.Equal(t, 4, n, "the segments that fit in the window")
				} else {
					require.Zero(t, n)
				}
				bhvTimeout(t, <-readErr)
				require.Equal(t, 3*time.Second, readAt, "read deadline instant")

				// Past deadlines fail at once; clearing them makes calls block again.
				_, err = a.Write([]byte("x"))
				bhvTimeout(t, err)
				_, err = a.Read(make([]byte, 1))
				bhvTimeout(t, err)
				require.Equal(t, 3*time.Second, time.Since(start))
				require.NoError(t, a.SetDeadline(time.Time{}))
				go a.Read(make([]byte, 1))
				synctest.Wait()
				require.NoError(t, a.SetReadDeadline(time.Now().Add(time.Second)))
				require.Equal(t, 3*time.Second, time.Since(start))
			})
		})
	}
}

// TestBehaviorPastReadDeadlineWithData checks net.Pipe's and a socket's
// rule: once the deadline has passed, Read fails even if data is waiting.
func TestBehaviorPastReadDeadlineWithData(t *testing.T) {
	for _, tc := range bhvProfiles {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := pipePair(t, faultconn.Config{Out: tc.p, In: tc.p}, faultconn.Profile{})
				go a.Write([]byte("data"))
				time.Sleep(time.Second) // the data has arrived (or waits in net.Pipe)
				require.NoError(t, b.SetReadDeadline(time.Now().Add(-time.Second)))
				n, err := b.Read(make([]byte, 8))
				require.Zero(t, n)
				bhvTimeout(t, err)
				require.NoError(t, b.SetReadDeadline(time.Time{}))
				buf := make([]byte, 8)
				n, err = b.Read(buf)
				require.NoError(t, err)
				require.Equal(t, "data", string(buf[:n]), "nothing lost")
			})
		})
	}
}

// TestBehaviorWriteDeadlineSurvivesSetProfiles turns faults on while a
// direct Write is blocked in net.Pipe: the Write must still end at its
// deadline.
func TestBehaviorWriteDeadlineSurvivesSetProfiles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := pipePair(t, faultconn.Config{}, faultconn.Profile{}) // nobody reads b
		start := time.Now()
		require.NoError(t, a.SetWriteDeadline(start.Add(time.Second)))
		res := make(chan error, 1)
		go func() {
			_, err := a.Write([]byte("x"))
			res <- err
		}()
		time.Sleep(500 * time.Millisecond)
		require.NoError(t, a.SetProfiles(faultconn.Profile{Latency: time.Millisecond}, faultconn.Profile{}))
		select {
		case err := <-res:
			bhvTimeout(t, err)
			require.Equal(t, time.Second, time.Since(start))
		case <-time.After(time.Hour):
			t.Fatal("Write still blocked an hour after its deadline")
		}
	})
}

func TestBehaviorInjectedResetPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := pipePair(t, faultconn.Config{Out: faultconn.Profile{Reset: 1, Latency: 20 * time.Millisecond}}, faultconn.Profile{})
		// The write that drew the reset reports success, like a kernel
		// that took the bytes; the reset is seen by the reads and by
		// later writes.
		n, err := a.Write([]byte("doomed"))
		require.NoError(t, err)
		require.Equal(t, 6, n)

		_, err = a.Read(make([]byte, 1))
		bhvOpErr(t, err, syscall.ECONNRESET, "the writer's reads fail too")
		require.ErrorIs(t, err, faultconn.ErrInjected)
		_, err = a.Write([]byte("again"))
		bhvOpErr(t, err, syscall.EPIPE, "a reset is reported once, as by a socket; later writes get EPIPE")
		_, err = a.Read(make([]byte, 1))
		require.Equal(t, io.EOF, err, "and later reads end of stream")
		require.Equal(t, uint64(1), a.Stats().Out.Resets)
	})
}

// TestBehaviorInjectedResetPipePeer checks what the other end of a
// net.Pipe sees of an injected reset: ECONNRESET, after the latency.
func TestBehaviorInjectedResetPipePeer(t *testing.T) {
	for _, tc := range bhvProfiles {
		t.Run("peerIn="+tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const latency = 20 * time.Millisecond
				// b's In direction is direct, or a pump with 10ms more.
				a, b := pipePair(t, faultconn.Config{Out: faultconn.Profile{Reset: 1, Latency: latency}}, faultconn.Profile{})
				require.NoError(t, b.SetProfiles(faultconn.Profile{}, tc.p))
				start := time.Now()
				_, err := a.Write([]byte("doomed"))
				require.NoError(t, err)
				_, err = b.Read(make([]byte, 8))
				require.Equal(t, latency+tc.p.Latency, time.Since(start), "the peer sees the reset after the latency")
				// net.Pipe has no reset: the wrapped conn can only be
				// closed, so the peer reads end of stream (documented; a
				// *net.TCPConn is reset for real, see below).
				require.Equal(t, io.EOF, err, "the peer's read")
			})
		})
	}
}

func TestBehaviorInjectedResetReachesRealPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	peer := <-accepted
	require.NotNil(t, peer)
	defer peer.Close()

	c, err := faultconn.Wrap(raw, faultconn.Config{Name: "cli", Out: faultconn.Profile{Reset: 1, Latency: time.Millisecond}})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("doomed"))
	require.NoError(t, err, "the write that drew the reset reports success")
	_, err = c.Read(make([]byte, 1))
	bhvOpErr(t, err, syscall.ECONNRESET)
	require.ErrorIs(t, err, faultconn.ErrInjected)

	require.NoError(t, peer.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := peer.Read(make([]byte, 8))
	require.Zero(t, n)
	require.ErrorIs(t, err, syscall.ECONNRESET, "the unwrapped peer sees a real RST: %v", err)

	_, err = c.Read(make([]byte, 1))
	require.Equal(t, io.EOF, err, "a reset is reported once, as by a socket")
}

// TestBehaviorWriteAfterPeerClosedIsEPIPE: the peer closes; the first
// write draws its RST; a later write fails with EPIPE, as on Linux.
func TestBehaviorWriteAfterPeerClosedIsEPIPE(t *testing.T) {
	for _, tc := range bhvProfiles {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			if p.Latency > 0 {
				p.Latency = time.Millisecond
			}
			c, s, stop, err := tcpPair(t, faultconn.Config{Out: p})
			require.NoError(t, err)
			defer stop()
			require.NoError(t, s.Close())
			n, err := c.Read(make([]byte, 1))
			require.Zero(t, n)
			require.True(t, err == io.EOF, "read after peer close: %v", err)
			for i := 0; ; i++ {
				_, err = c.Write([]byte("x"))
				if err != nil {
					break
				}
				require.Less(t, i, 500, "writes never failed")
				time.Sleep(2 * time.Millisecond)
			}
			bhvOpErr(t, err, syscall.EPIPE)
			require.NotErrorIs(t, err, faultconn.ErrInjected, "the peer's doing, not a fault")
		})
	}
}

func TestBehaviorDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	d := &faultconn.Dialer{Config: faultconn.Config{Out: faultconn.Profile{Latency: time.Millisecond}}}
	_, err = d.Dial("tcp", addr)
	bhvOpErr(t, err, syscall.ECONNREFUSED)
}

// --- 2. Stream mode keeps the byte stream exact -------------------------

// bhvStreamRun sends size random bytes each way at once over a pipePair whose
// both Out directions have profile p, checks the bytes, and returns when the
// last byte arrived and both conns' stats.
func bhvStreamRun(t *testing.T, seed uint64, p faultconn.Profile, size int) (elapsed time.Duration, sa, sb faultconn.Stats) {
	a, b := pipePair(t, faultconn.Config{Seed: seed, Out: p}, p)
	dataA, dataB := bhvRandom(seed, size), bhvRandom(seed+1, size)
	start := time.Now()
	var wg sync.WaitGroup
	var gotA, gotB []byte
	var errs [4]error
	var doneA, doneB time.Duration
	wg.Go(func() { _, errs[0] = a.Write(dataA) })
	wg.Go(func() { _, errs[1] = b.Write(dataB) })
	wg.Go(func() {
		gotB = make([]byte, size)
		_, errs[2] = io.ReadFull(b, gotB)
		doneB = time.Since(start)
	})
	wg.Go(func() {
		gotA = make([]byte, size)
		_, errs[3] = io.ReadFull(a, gotA)
		doneA = time.Since(start)
	})
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "call %d", i)
	}
	require.True(t, bytes.Equal(dataA, gotB), "a->b bytes differ")
	require.True(t, bytes.Equal(dataB, gotA), "b->a bytes differ")
	return max(doneA, doneB), a.Stats(), b.Stats()
}

func TestBehaviorStreamExactUnderFaults(t *testing.T) {
	p := faultconn.Profile{
		Loss: 0.2, Duplicate: 0.2, Reorder: 0.2, Corrupt: 0.1,
		Latency: 5 * time.Millisecond, Jitter: 3 * time.Millisecond, Segment: 100,
	}
	const size = 200_000
	var first time.Duration
	var firstStats [2]faultconn.Stats
	for run := range 2 {
		synctest.Test(t, func(t *testing.T) {
			elapsed, sa, sb := bhvStreamRun(t, 7, p, size)
			for name, s := range map[string]faultconn.DirStats{"a.Out": sa.Out, "b.Out": sb.Out} {
				assert.Equal(t, uint64(size/100), s.Segments, name)
				assert.Equal(t, uint64(size), s.Bytes, name)
				assert.Equal(t, s.Segments, s.Delivered, "%s: Stream delivers each segment once", name)
				assert.NotZero(t, s.Lost, name)
				assert.NotZero(t, s.Duplicated, name)
				assert.NotZero(t, s.Reordered, name)
				assert.NotZero(t, s.Corrupted, name)
				assert.NotZero(t, s.Retransmitted, name)
				// Every failed transmission (lost or corrupted) is sent again.
				assert.Equal(t, s.Lost+s.Corrupted, s.Retransmitted, "%s: %+v", name, s)
				assert.Zero(t, s.Resets, name)
				assert.Zero(t, s.Dropped, name)
			}
			t.Logf("last byte at %v; a.Out %+v", elapsed, sa.Out)
			if run == 0 {
				first, firstStats = elapsed, [2]faultconn.Stats{sa, sb}
				return
			}
			// Same seed, same writes: same fates and the same instants.
			assert.Equal(t, first, elapsed)
			assert.Equal(t, firstStats[0].Out, sa.Out)
			assert.Equal(t, firstStats[1].Out, sb.Out)
		})
	}
}

// --- 3. Segments mode shows the fates in the bytes ----------------------

// bhvSegPair is a pipePair in Segments mode with p on a's Out only.
func bhvSegPair(t *testing.T, p faultconn.Profile, tr *faultconn.Trace) (a, b *faultconn.Conn) {
	return pipePair(t, faultconn.Config{Seed: 3, Mode: faultconn.Segments, Out: p, Trace: tr}, faultconn.Profile{})
}

// bhvSendAll writes data from a, closes a, and returns all b read.
func bhvSendAll(t *testing.T, a, b *faultconn.Conn, writes ...[]byte) []byte {
	t.Helper()
	go func() {
		for _, w := range writes {
			a.Write(w)
		}
		a.Close()
	}()
	got, err := io.ReadAll(b)
	require.NoError(t, err)
	return got
}

func TestBehaviorSegmentsDuplicate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := bhvSegPair(t, faultconn.Profile{Segment: 1, Duplicate: 1, Latency: time.Millisecond}, nil)
		start := time.Now()
		got := bhvSendAll(t, a, b, []byte("abc"), []byte("de"))
		require.Equal(t, "aabbccddee", string(got))
		require.Equal(t, time.Millisecond, time.Since(start))
		s := a.Stats().Out
		require.Equal(t, faultconn.DirStats{Segments: 5, Bytes: 5, Delivered: 10, Duplicated: 5}, s)
	})
}

func TestBehaviorSegmentsLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := bhvSegPair(t, faultconn.Profile{Segment: 10, Loss: 1, Latency: 5 * time.Millisecond}, nil)
		start := time.Now()
		// Nothing arrives before a deadline...
		require.NoError(t, b.SetReadDeadline(start.Add(time.Second)))
		_, err := a.Write(make([]byte, 100))
		require.NoError(t, err)
		_, err = b.Read(make([]byte, 100))
		bhvTimeout(t, err)
		require.Equal(t, time.Second, time.Since(start))
		// ...nor before the end of the stream.
		require.NoError(t, b.SetReadDeadline(time.Time{}))
		got := bhvSendAll(t, a, b, make([]byte, 55))
		require.Empty(t, got)
		require.Equal(t, time.Second+5*time.Millisecond, time.Since(start), "EOF after the latency")
		require.Equal(t, faultconn.DirStats{Segments: 16, Bytes: 155, Lost: 16}, a.Stats().Out)
	})
}

func TestBehaviorSegmentsCorrupt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(0)
		a, b := bhvSegPair(t, faultconn.Profile{Segment: 10, Corrupt: 1}, tr)
		data := bhvRandom(1, 95)
		got := bhvSendAll(t, a, b, data)
		require.Len(t, got, len(data))
		for off := 0; off < len(data); off += 10 {
			end := min(off+10, len(data))
			flipped := 0
			for i := off; i < end; i++ {
				flipped += bits.OnesCount8(data[i] ^ got[i])
			}
			require.Equal(t, 1, flipped, "segment at %d: exactly one bit flipped", off)
		}
		var corrupt []uint64
		for _, e := range tr.Events() {
			if e.Kind == faultconn.KindCorrupt {
				corrupt = append(corrupt, e.Seq)
			}
		}
		require.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, corrupt)
		require.Equal(t, uint64(10), a.Stats().Out.Corrupted)
	})
}

func TestBehaviorSegmentsReorderSwaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := bhvSegPair(t, faultconn.Profile{Reorder: 1, Latency: 10 * time.Millisecond}, nil)
		start := time.Now()
		_, err := a.Write([]byte("first"))
		require.NoError(t, err)
		require.NoError(t, a.SetProfiles(faultconn.Profile{}, faultconn.Profile{}))
		_, err = a.Write([]byte("second"))
		require.NoError(t, err)
		buf := make([]byte, 16)
		n, err := b.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "second", string(buf[:n]))
		require.Equal(t, time.Duration(0), time.Since(start))
		n, err = b.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "first", string(buf[:n]))
		require.Equal(t, 20*time.Millisecond, time.Since(start), "held back one more latency")
		s := a.Stats().Out
		require.Equal(t, uint64(1), s.Reordered)
		require.Equal(t, uint64(2), s.Delivered)
	})
}

// TestBehaviorSegmentsMatchTrace rebuilds the delivered byte stream of a
// seeded mixed profile from the trace: one chunk per Deliver event, the
// chunk of its Seq, with one bit flipped when the segment was corrupted.
func TestBehaviorSegmentsMatchTrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const seg = 16
		tr := faultconn.NewTrace(0)
		p := faultconn.Profile{
			Segment: seg, Loss: 0.2, Duplicate: 0.2, Reorder: 0.2, Corrupt: 0.2,
			Latency: 5 * time.Millisecond, Jitter: 2 * time.Millisecond,
		}
		a, b := bhvSegPair(t, p, tr)
		// Distinct writes: 40 of 1..50 bytes, so segments have many sizes.
		var writes [][]byte
		var chunks [][]byte // by Seq-1
		for i := range 40 {
			w := bhvRandom(uint64(100+i), 1+(i*37)%50)
			writes = append(writes, w)
			for off := 0; off < len(w); off += seg {
				chunks = append(chunks, w[off:min(off+seg, len(w))])
			}
		}
		got := bhvSendAll(t, a, b, writes...)

		corrupt := map[uint64]bool{}
		var kinds [16]int
		var want []int // Seq of each delivered chunk, in order
		deliveredBytes := 0
		for _, e := range tr.Events() {
			require.Equal(t, "a", e.Link)
			kinds[e.Kind]++
			switch e.Kind {
			case faultconn.KindSend:
				require.Equal(t, len(chunks[e.Seq-1]), e.Size, "send #%d", e.Seq)
			case faultconn.KindCorrupt:
				corrupt[e.Seq] = true
			case faultconn.KindDeliver:
				require.Equal(t, len(chunks[e.Seq-1]), e.Size, "deliver #%d", e.Seq)
				want = append(want, int(e.Seq))
				deliveredBytes += e.Size
			}
		}
		require.Len(t, got, deliveredBytes, "delivered bytes = sum of Deliver sizes")
		off := 0
		for _, seq := range want {
			c := chunks[seq-1]
			flipped := 0
			for i := range c {
				flipped += bits.OnesCount8(c[i] ^ got[off+i])
			}
			if corrupt[uint64(seq)] {
				require.Equal(t, 1, flipped, "corrupted #%d at %d", seq, off)
			} else {
				require.Zero(t, flipped, "#%d at %d", seq, off)
			}
			off += len(c)
		}
		for _, k := range []faultconn.Kind{faultconn.KindLose, faultconn.KindDuplicate, faultconn.KindReorder, faultconn.KindCorrupt} {
			require.NotZero(t, kinds[k], "no %v event: the profile should draw every fate", k)
		}
		s := a.Stats().Out
		require.Equal(t, uint64(len(chunks)), s.Segments)
		require.Equal(t, uint64(kinds[faultconn.KindSend]), s.Segments)
		require.Equal(t, uint64(kinds[faultconn.KindDeliver]), s.Delivered)
		require.Equal(t, uint64(kinds[faultconn.KindLose]), s.Lost)
		require.Equal(t, uint64(kinds[faultconn.KindDuplicate]), s.Duplicated)
		require.Equal(t, uint64(kinds[faultconn.KindReorder]), s.Reordered)
		require.Equal(t, uint64(kinds[faultconn.KindCorrupt]), s.Corrupted)
		// A lost segment's duplicate is lost with it; the others arrive twice.
		require.Equal(t, s.Segments-s.Lost, s.Delivered-(s.Duplicated-bhvLostDups(tr)))
	})
}

// bhvLostDups counts segments both lost and duplicated.
func bhvLostDups(tr *faultconn.Trace) uint64 {
	lost, dup := map[uint64]bool{}, map[uint64]bool{}
	for _, e := range tr.Events() {
		switch e.Kind {
		case faultconn.KindLose:
			lost[e.Seq] = true
		case faultconn.KindDuplicate:
			dup[e.Seq] = true
		}
	}
	var n uint64
	for s := range lost {
		if dup[s] {
			n++
		}
	}
	return n
}

// --- 4. SetProfiles applies from the next segment -----------------------

// bhvReadAt reads one chunk from c and returns it with the instant.
func bhvReadAt(t *testing.T, c net.Conn, start time.Time) (string, time.Duration) {
	t.Helper()
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	require.NoError(t, err)
	return string(buf[:n]), time.Since(start)
}

func TestBehaviorSetProfilesExactInstants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{Out: faultconn.Profile{Latency: 10 * time.Millisecond}}, faultconn.Profile{})
		start := time.Now()
		_, err := a.Write([]byte("one"))
		require.NoError(t, err)
		s, at := bhvReadAt(t, b, start)
		require.Equal(t, "one", s)
		require.Equal(t, 10*time.Millisecond, at)

		time.Sleep(20 * time.Millisecond)
		slow := faultconn.Profile{Latency: 100 * time.Millisecond}
		require.NoError(t, a.SetProfiles(slow, faultconn.Profile{}))
		out, in := a.Profiles()
		require.Equal(t, slow, out)
		require.Equal(t, faultconn.Profile{}, in)
		_, err = a.Write([]byte("two"))
		require.NoError(t, err)
		s, at = bhvReadAt(t, b, start)
		require.Equal(t, "two", s)
		require.Equal(t, 130*time.Millisecond, at, "written at 30ms, +100ms")

		// An invalid profile is refused and changes nothing.
		err = a.SetProfiles(faultconn.Profile{Loss: 2}, faultconn.Profile{})
		require.ErrorContains(t, err, "Loss 2 out of range [0,1]")
		out, _ = a.Profiles()
		require.Equal(t, slow, out)
	})
}

// TestBehaviorSetProfilesInFlight checks that a segment in flight keeps the
// delay it was drawn with: in Segments mode a later, faster segment
// overtakes it; in Stream mode it waits behind it (head-of-line).
func TestBehaviorSetProfilesInFlight(t *testing.T) {
	for _, mode := range []faultconn.Mode{faultconn.Stream, faultconn.Segments} {
		t.Run(mode.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := pipePair(t, faultconn.Config{Mode: mode, Out: faultconn.Profile{Latency: 100 * time.Millisecond}}, faultconn.Profile{})
				start := time.Now()
				_, err := a.Write([]byte("slow"))
				require.NoError(t, err)
				time.Sleep(5 * time.Millisecond)
				require.NoError(t, a.SetProfiles(faultconn.Profile{Latency: 10 * time.Millisecond}, faultconn.Profile{}))
				_, err = a.Write([]byte("fast"))
				require.NoError(t, err)
				s1, at1 := bhvReadAt(t, b, start)
				s2, at2 := bhvReadAt(t, b, start)
				if mode == faultconn.Segments {
					require.Equal(t, []any{"fast", 15 * time.Millisecond, "slow", 100 * time.Millisecond}, []any{s1, at1, s2, at2})
				} else {
					require.Equal(t, []any{"slow", 100 * time.Millisecond, "fast", 100 * time.Millisecond}, []any{s1, at1, s2, at2})
				}
			})
		})
	}
}

// TestBehaviorSetProfilesFromDirect turns faults on for directions that
// were going straight to the wrapped conn, with a Read already blocked in
// the wrapped conn, and off again.
func TestBehaviorSetProfilesFromDirect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{}, faultconn.Profile{})
		start := time.Now()
		type read struct {
			s  string
			at time.Duration
		}
		reads := make(chan read, 4)
		go func() {
			for {
				buf := make([]byte, 64)
				n, err := b.Read(buf)
				if err != nil {
					close(reads)
					return
				}
				reads <- read{string(buf[:n]), time.Since(start)}
			}
		}()
		synctest.Wait() // b's Read is blocked in net.Pipe
		// b's In direction gets 20ms, a's Out 7ms.
		require.NoError(t, b.SetProfiles(faultconn.Profile{}, faultconn.Profile{Latency: 20 * time.Millisecond}))
		require.NoError(t, a.SetProfiles(faultconn.Profile{Latency: 7 * time.Millisecond}, faultconn.Profile{}))
		time.Sleep(5 * time.Millisecond)
		_, err := a.Write([]byte("x"))
		require.NoError(t, err)
		require.Equal(t, read{"x", 32 * time.Millisecond}, <-reads)

		// Off again: the pumps stay, with no delay.
		require.NoError(t, b.SetProfiles(faultconn.Profile{}, faultconn.Profile{}))
		require.NoError(t, a.SetProfiles(faultconn.Profile{}, faultconn.Profile{}))
		_, err = a.Write([]byte("y"))
		require.NoError(t, err)
		require.Equal(t, read{"y", 32 * time.Millisecond}, <-reads)
	})
}

// --- 5. Listener and Dialer ---------------------------------------------

func TestBehaviorListenerNames(t *testing.T) {
	for _, name := range []string{"", "srv"} {
		t.Run("name="+name, func(t *testing.T) {
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			ln, err := faultconn.WrapListener(raw, faultconn.Config{Name: name, Out: faultconn.Profile{Latency: time.Millisecond}})
			require.NoError(t, err)
			defer ln.Close()
			require.Equal(t, raw.Addr(), ln.Addr())
			d := &faultconn.Dialer{Config: faultconn.Config{Name: name}}
			want := name
			if want == "" {
				want = "listener"
			}
			wantDial := name
			if wantDial == "" {
				wantDial = "dial"
			}
			for i := 1; i <= 3; i++ {
				dc, err := d.Dial("tcp", ln.Addr().String())
				require.NoError(t, err)
				defer dc.Close()
				c, err := ln.Accept()
				require.NoError(t, err)
				defer c.Close()
				fc, ok := c.(*faultconn.Conn)
				require.True(t, ok, "accepted %T", c)
				require.Equal(t, fmt.Sprintf("%s#%d", want, i), fc.Name())
				require.Equal(t, fmt.Sprintf("%s#%d", wantDial, i), dc.(*faultconn.Conn).Name())
				// The accepted conn really carries the profile.
				_, err = c.Write([]byte("hi"))
				require.NoError(t, err)
				buf := make([]byte, 2)
				_, err = io.ReadFull(dc, buf)
				require.NoError(t, err)
				require.Equal(t, "hi", string(buf))
				require.Equal(t, uint64(1), fc.Stats().Out.Delivered)
			}
		})
	}
}

func TestBehaviorDialerHTTP(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln, err := faultconn.WrapListener(raw, faultconn.Config{Name: "srv", Out: faultconn.Profile{Latency: time.Millisecond, Segment: 7}})
	require.NoError(t, err)
	body := strings.Repeat("headwind ", 1000)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body+r.URL.Path)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	d := &faultconn.Dialer{Config: faultconn.Config{Out: faultconn.Profile{Latency: 2 * time.Millisecond}}}
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for _, path := range []string{"/a", "/b"} {
		resp, err := client.Get("http://" + ln.Addr().String() + path)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, body+path, string(got))
	}

	// A Dialer with a bad config refuses to dial.
	bad := &faultconn.Dialer{Config: faultconn.Config{Out: faultconn.Profile{Loss: -1}}}
	_, err = bad.DialContext(context.Background(), "tcp", ln.Addr().String())
	require.ErrorContains(t, err, "Loss -1 out of range [0,1]")
}

// --- 6. Packet conns ----------------------------------------------------

// bhvUDPPair returns two wrapped UDP sockets on loopback.
func bhvUDPPair(t *testing.T, ca, cb faultconn.Config) (a, b net.PacketConn) {
	t.Helper()
	ra, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	rb, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	a, err = faultconn.WrapPacketConn(ra, ca)
	require.NoError(t, err)
	b, err = faultconn.WrapPacketConn(rb, cb)
	require.NoError(t, err)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

type bhvStatser interface{ Stats() faultconn.Stats }

func TestBehaviorPacketBoundaries(t *testing.T) {
	// Jitter reorders datagrams; they must still never merge or split.
	a, b := bhvUDPPair(t,
		faultconn.Config{Name: "a", Out: faultconn.Profile{Latency: time.Millisecond, Jitter: time.Millisecond, Segment: 3}},
		faultconn.Config{Name: "b", In: faultconn.Profile{Latency: time.Millisecond}})
	const n = 100
	want := map[int]bool{}
	total := 0
	for i := range n {
		size := 1 + 13*i // distinct sizes 1..1288
		want[size] = true
		total += size
		msg := bytes.Repeat([]byte{byte(i)}, size)
		m, err := a.WriteTo(msg, b.LocalAddr())
		require.NoError(t, err)
		require.Equal(t, size, m)
	}
	require.NoError(t, b.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 2048)
	for range n {
		m, from, err := b.ReadFrom(buf)
		require.NoError(t, err)
		require.True(t, want[m], "unexpected datagram size %d", m)
		delete(want, m)
		require.Equal(t, bytes.Repeat([]byte{buf[0]}, m), buf[:m], "datagram of %d bytes mixed", m)
		require.Equal(t, 1+13*int(buf[0]), m)
		require.Equal(t, a.LocalAddr().String(), from.String())
	}
	require.Empty(t, want)
	so := a.(bhvStatser).Stats().Out
	require.Equal(t, faultconn.DirStats{Segments: n, Bytes: uint64(total), Delivered: n}, so)
	si := b.(bhvStatser).Stats().In
	require.Equal(t, faultconn.DirStats{Segments: n, Bytes: uint64(total), Delivered: n}, si)
}

func TestBehaviorPacketDuplicate(t *testing.T) {
	a, b := bhvUDPPair(t,
		faultconn.Config{Name: "a", Out: faultconn.Profile{Duplicate: 1, Latency: time.Millisecond}},
		faultconn.Config{Name: "b"})
	_, err := a.WriteTo([]byte("twice"), b.LocalAddr())
	require.NoError(t, err)
	require.NoError(t, b.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 64)
	for range 2 {
		n, _, err := b.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, "twice", string(buf[:n]))
	}
	require.NoError(t, b.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, _, err = b.ReadFrom(buf)
	bhvTimeout(t, err)
	require.Equal(t, faultconn.DirStats{Segments: 1, Bytes: 5, Delivered: 2, Duplicated: 1}, a.(bhvStatser).Stats().Out)
}

func TestBehaviorPacketLossAll(t *testing.T) {
	a, b := bhvUDPPair(t,
		faultconn.Config{Name: "a", Out: faultconn.Profile{Loss: 1, Latency: time.Millisecond}},
		faultconn.Config{Name: "b"})
	for i := range 10 {
		_, err := a.WriteTo(make([]byte, 10+i), b.LocalAddr())
		require.NoError(t, err)
	}
	require.NoError(t, b.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, _, err := b.ReadFrom(make([]byte, 64))
	bhvTimeout(t, err)
	require.Equal(t, faultconn.DirStats{Segments: 10, Bytes: 145, Lost: 10}, a.(bhvStatser).Stats().Out)
	require.Equal(t, faultconn.DirStats{}, b.(bhvStatser).Stats().In)
}

// TestBehaviorPacketWindowDrops: datagrams beyond the window are dropped,
// as a full socket buffer drops them, and counted.
func TestBehaviorPacketWindowDrops(t *testing.T) {
	a, b := bhvUDPPair(t,
		// Each datagram costs its 4 bytes plus 256 of overhead: two fit in 530.
		faultconn.Config{Name: "a", Window: 530, Out: faultconn.Profile{Latency: 50 * time.Millisecond}},
		faultconn.Config{Name: "b"})
	for i := range 5 {
		_, err := a.WriteTo([]byte{'0' + byte(i), 1, 2, 3}, b.LocalAddr())
		require.NoError(t, err, "WriteTo does not report the drop, as UDP does not")
	}
	require.NoError(t, b.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 8)
	for _, want := range []byte{'0', '1'} {
		n, _, err := b.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, []byte{want, 1, 2, 3}, buf[:n])
	}
	require.NoError(t, b.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, _, err := b.ReadFrom(buf)
	bhvTimeout(t, err)
	require.Equal(t, faultconn.DirStats{Segments: 2, Bytes: 8, Delivered: 2, Dropped: 3}, a.(bhvStatser).Stats().Out)
}

func TestBehaviorPacketRejectsReset(t *testing.T) {
	for _, cfg := range []faultconn.Config{
		{Out: faultconn.Profile{Reset: 0.5}},
		{In: faultconn.Profile{Reset: 1}},
	} {
		raw, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		pc, err := faultconn.WrapPacketConn(raw, cfg)
		require.Nil(t, pc)
		require.ErrorContains(t, err, "Reset")
		raw.Close()
	}
	a, _ := bhvUDPPair(t, faultconn.Config{}, faultconn.Config{})
	type profiler interface {
		SetProfiles(out, in faultconn.Profile) error
	}
	require.ErrorContains(t, a.(profiler).SetProfiles(faultconn.Profile{Reset: 0.1}, faultconn.Profile{}), "Reset")
}

func TestBehaviorPacketClose(t *testing.T) {
	a, _ := bhvUDPPair(t, faultconn.Config{}, faultconn.Config{})
	errc := make(chan error, 1)
	go func() {
		_, _, err := a.ReadFrom(make([]byte, 8))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, a.Close())
	bhvOpErr(t, <-errc, net.ErrClosed, "blocked ReadFrom")
	_, err := a.WriteTo([]byte("x"), a.LocalAddr())
	bhvOpErr(t, err, net.ErrClosed, "WriteTo after Close")
	bhvOpErr(t, a.Close(), net.ErrClosed, "second Close")
}

// --- 7. Bad input -------------------------------------------------------

func TestBehaviorBadConfig(t *testing.T) {
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()

	_, err := faultconn.Wrap(p1, faultconn.Config{Out: faultconn.Profile{Loss: 1.5}})
	require.ErrorContains(t, err, "Loss 1.5 out of range [0,1]")
	_, err = faultconn.Wrap(p1, faultconn.Config{Window: -1})
	require.ErrorContains(t, err, "Window -1")
	_, err = faultconn.Wrap(p1, faultconn.Config{Mode: 7})
	require.ErrorContains(t, err, "Mode 7")

	// Every problem, in one error.
	all := faultconn.Config{
		Out:    faultconn.Profile{Loss: 1.5, Latency: -time.Second},
		In:     faultconn.Profile{Duplicate: -0.5, Segment: -3},
		Mode:   7,
		Window: -1,
	}
	_, err = faultconn.Wrap(p1, all)
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"Loss 1.5 out of range [0,1]", "Latency -1s out of range [0,24h0m0s]",
		"Duplicate -0.5 out of range [0,1]", "Segment -3 out of range [0,∞)",
		"Mode 7", "Window -1",
	} {
		require.Contains(t, msg, want)
	}
	require.Contains(t, msg, "Out: ", "says which direction")
	require.Contains(t, msg, "In: ")
	require.Len(t, strings.Split(msg, "\n"), 6, "one line per problem:\n%s", msg)
	for _, line := range strings.Split(msg, "\n") {
		require.True(t, strings.HasPrefix(line, "faultconn: "), "line %q", line)
	}

	// The same checks guard the other wrappers.
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer raw.Close()
	_, err = faultconn.WrapListener(raw, all)
	require.ErrorContains(t, err, "Window -1")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	_, err = faultconn.WrapPacketConn(pc, all)
	require.ErrorContains(t, err, "Loss 1.5")

	// The conn is still usable: a failed Wrap does not take it over.
	go p2.Write([]byte("ok"))
	buf := make([]byte, 2)
	_, err = io.ReadFull(p1, buf)
	require.NoError(t, err)
}

func TestBehaviorPacketLimits(t *testing.T) {
	a, b := bhvUDPPair(t, faultconn.Config{Name: "a", Window: 2600, Out: faultconn.Profile{Latency: time.Hour}}, faultconn.Config{Name: "b"})
	_, err := a.WriteTo(make([]byte, faultconn.MaxDatagram+1), b.LocalAddr())
	require.ErrorIs(t, err, syscall.EMSGSIZE)
	// Empty datagrams cost their overhead: ten fit in 2600 bytes, not all.
	for range 100 {
		_, err := a.WriteTo(nil, b.LocalAddr())
		require.NoError(t, err)
	}
	st := a.(bhvStatser).Stats().Out
	require.Equal(t, uint64(10), st.Segments)
	require.Equal(t, uint64(90), st.Dropped)
}
