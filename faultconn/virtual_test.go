package faultconn_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
)

// pipePair wraps both ends of a net.Pipe: inside a synctest bubble it runs
// on virtual time. a's Out profile is out, b's is back.
func pipePair(t *testing.T, cfg faultconn.Config, back faultconn.Profile) (a, b *faultconn.Conn) {
	t.Helper()
	p1, p2 := net.Pipe()
	acfg, bcfg := cfg, cfg
	acfg.Name, bcfg.Name = "a", "b"
	bcfg.Out = back
	a, err := faultconn.Wrap(p1, acfg)
	require.NoError(t, err)
	b, err = faultconn.Wrap(p2, bcfg)
	require.NoError(t, err)
	t.Cleanup(func() { a.Close(); b.Close(); <-a.Done(); <-b.Done() })
	return a, b
}

func TestLatencyIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{Out: faultconn.Profile{Latency: 50 * time.Millisecond}}, faultconn.Profile{})
		start := time.Now()
		_, err := a.Write([]byte("ping"))
		require.NoError(t, err)
		buf := make([]byte, 16)
		n, err := b.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "ping", string(buf[:n]))
		require.Equal(t, 50*time.Millisecond, time.Since(start))
		go b.Write([]byte("pong")) // no faults back: straight through net.Pipe, which waits for the reader
		n, err = a.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "pong", string(buf[:n]))
		require.Equal(t, 50*time.Millisecond, time.Since(start))
	})
}

func TestBandwidthIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{Out: faultconn.Profile{Bandwidth: 1 << 20, Segment: 1460}}, faultconn.Profile{})
		data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		start := time.Now()
		go func() {
			a.Write(data)
			a.Close() // net.Pipe has no CloseWrite; Close delivers what is in flight first
		}()
		got, err := io.ReadAll(b)
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.Equal(t, time.Second, time.Since(start))
	})
}

func TestDeadlinesAreExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := pipePair(t, faultconn.Config{In: faultconn.Profile{Latency: time.Second}}, faultconn.Profile{})
		start := time.Now()
		require.NoError(t, a.SetReadDeadline(start.Add(3*time.Second)))
		_, err := a.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var ne net.Error
		require.True(t, errors.As(err, &ne) && ne.Timeout())
		require.Equal(t, 3*time.Second, time.Since(start))
		// A deadline in the past fails at once; re-arming works.
		_, err = a.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.NoError(t, a.SetReadDeadline(time.Now().Add(time.Second)))
		_, err = a.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.Equal(t, 4*time.Second, time.Since(start))
	})
}

func TestStreamTimeoutAfterRetransmissions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(0)
		a, _ := pipePair(t, faultconn.Config{Trace: tr, Out: faultconn.Profile{Latency: 10 * time.Millisecond, Loss: 1}}, faultconn.Profile{})
		start := time.Now()
		_, err := a.Write([]byte("x"))
		require.NoError(t, err)
		_, err = a.Read(make([]byte, 1))
		require.ErrorIs(t, err, syscall.ETIMEDOUT)
		require.ErrorIs(t, err, faultconn.ErrInjected)
		// Linux: 15 retransmissions, RTO from 200ms doubling to 120s: 924.6s.
		require.Equal(t, 924600*time.Millisecond, time.Since(start))
		var retrans, losses []time.Duration
		for _, e := range tr.Events() {
			switch e.Kind {
			case faultconn.KindRetransmit:
				retrans = append(retrans, e.Time)
			case faultconn.KindLose:
				losses = append(losses, e.Time)
			}
		}
		var want, wantLoss []time.Duration
		sent, rto := time.Duration(0), 200*time.Millisecond
		for range 16 {
			wantLoss = append(wantLoss, sent+10*time.Millisecond)
			sent += rto
			rto = min(2*rto, 120*time.Second)
			want = append(want, sent)
		}
		require.Equal(t, wantLoss, losses)
		require.Equal(t, want[:15], retrans)
		_, err = a.Write([]byte("y"))
		require.ErrorIs(t, err, syscall.EPIPE, "the timeout was reported once, to the read")
	})
}

func TestWindowBlocksWriterUntilDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := pipePair(t, faultconn.Config{Window: 64 << 10, Out: faultconn.Profile{Latency: time.Hour, Segment: 1000}}, faultconn.Profile{})
		start := time.Now()
		a.SetWriteDeadline(start.Add(5 * time.Second))
		n, err := a.Write(make([]byte, 1<<20))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.Equal(t, 65000, n) // the whole segments that fit in 64 KiB
		require.Equal(t, 5*time.Second, time.Since(start))
	})
}
