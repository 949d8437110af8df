package kv_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/examples/kv"
	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// The client's tests run in bubbles on netsim networks without faults, so
// every instant is exact: when each attempt starts, when the client gives
// up.

func TestBackoffCaps(t *testing.T) {
	b := kv.NewBackoff(100*time.Millisecond, time.Second, 1)
	for n, want := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 6: time.Second, 1000: time.Second,
	} {
		assert.Equal(t, want, b.Cap(n), "Cap(%d)", n)
	}
	again := kv.NewBackoff(100*time.Millisecond, time.Second, 1)
	other := kv.NewBackoff(100*time.Millisecond, time.Second, 2)
	same, differ := true, false
	for n := 1; n <= 1000; n++ {
		d := b.Delay(n)
		require.True(t, d >= 0 && d <= b.Cap(n), "Delay(%d) = %v, outside [0, %v]", n, d, b.Cap(n))
		same = same && d == again.Delay(n)
		differ = differ || d != other.Delay(n)
	}
	assert.True(t, same, "the same seed gave other delays")
	assert.True(t, differ, "another seed gave the same delays")
}

// recordDials wraps h's dial function to record the instant of every dial,
// since start.
func recordDials(h *netsim.Host, start time.Time, at *[]time.Duration) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		*at = append(*at, time.Since(start))
		return h.DialContext(ctx, network, addr)
	}
}

// TestClientBackoffSchedule checks the retry schedule at exact instants:
// nothing listens, so every dial is refused at once, and attempt n+1
// starts exactly Delay(n) after attempt n, with the delays the client's
// seed draws; the client gives up after MaxAttempts.
func TestClientBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := netsim.New(netsim.Config{})
		require.NoError(t, err)
		defer n.Close()
		n.Host("server") // exists, but nothing listens: ECONNREFUSED
		start := time.Now()
		var dials []time.Duration
		c, err := kv.NewClient(kv.ClientConfig{
			Name: "pos1", Addr: "server:80", Dial: recordDials(n.Host("pos1"), start, &dials), Seed: 42,
			BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, MaxAttempts: 8,
		})
		require.NoError(t, err)
		defer c.Close()

		_, err = c.Charge(context.Background(), c.NewSerial(), "alice", 500)

		b := kv.NewBackoff(100*time.Millisecond, time.Second, 42) // the client's delays
		want := []time.Duration{0}
		for i := 1; i < 8; i++ {
			want = append(want, want[i-1]+b.Delay(i))
		}
		assert.Equal(t, want, dials, "the instants of the attempts")
		var gaveUp *kv.GaveUpError
		require.ErrorAs(t, err, &gaveUp)
		assert.Equal(t, 8, gaveUp.Attempts)
		assert.Equal(t, want[7], gaveUp.Elapsed, "gave up right after the last refusal")
		assert.Equal(t, want[7], time.Since(start))
		assert.NoError(t, gaveUp.Err, "stopped by MaxAttempts, not by the context")
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		assert.Regexp(t, `^kv: CHARGE pos1-1: gave up after 8 attempts in .* \(MaxAttempts reached\); last attempt: dial tcp .*: connection refused; it may or may not have been applied$`, err.Error())
	})
}

// TestClientDeadlines checks the per-attempt timeout and the overall
// deadline against a server that accepts connections and never answers:
// each attempt lasts exactly AttemptTimeout, and the call gives up at
// exactly Timeout, in the middle of an attempt.
func TestClientDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := netsim.New(netsim.Config{})
		require.NoError(t, err)
		defer n.Close()
		ln, err := n.Host("server").Listen("tcp", ":80")
		require.NoError(t, err)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close() // and never answer
			}
		}()
		start := time.Now()
		var dials []time.Duration
		c, err := kv.NewClient(kv.ClientConfig{
			Name: "pos1", Addr: "server:80", Dial: recordDials(n.Host("pos1"), start, &dials), Seed: 7,
			AttemptTimeout: time.Second, Timeout: 3500 * time.Millisecond,
			BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
		})
		require.NoError(t, err)
		defer c.Close()

		_, err = c.Charge(context.Background(), c.NewSerial(), "alice", 500)

		b := kv.NewBackoff(100*time.Millisecond, time.Second, 7)
		var want []time.Duration
		for at := time.Duration(0); at < 3500*time.Millisecond; at += time.Second + b.Delay(len(want)) {
			want = append(want, at)
		}
		assert.Equal(t, want, dials, "each attempt times out after 1s, then backs off")
		var gaveUp *kv.GaveUpError
		require.ErrorAs(t, err, &gaveUp)
		assert.Equal(t, len(want), gaveUp.Attempts)
		assert.Equal(t, 3500*time.Millisecond, time.Since(start), "gave up at the deadline exactly")
		assert.Equal(t, 3500*time.Millisecond, gaveUp.Elapsed)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "the last attempt was cut off by the deadline")
	})
}

// TestClientCancel checks that canceling the context interrupts an
// attempt at once.
func TestClientCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := netsim.New(netsim.Config{})
		require.NoError(t, err)
		defer n.Close()
		ln, err := n.Host("server").Listen("tcp", ":80")
		require.NoError(t, err)
		defer ln.Close()
		c, err := kv.NewClient(kv.ClientConfig{Name: "pos1", Addr: "server:80", Dial: n.Host("pos1").DialContext})
		require.NoError(t, err)
		defer c.Close()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		_, err = c.Charge(ctx, c.NewSerial(), "alice", 500) // nobody accepts
		assert.Equal(t, 300*time.Millisecond, time.Since(start))
		assert.ErrorIs(t, err, context.Canceled)
		var gaveUp *kv.GaveUpError
		require.ErrorAs(t, err, &gaveUp)
		assert.Equal(t, 1, gaveUp.Attempts)
	})
}

// TestRetryAfterLostAnswer is the bug the dedupe table exists for, step
// by step: the server applies a charge, the connection is reset while
// the answer is on its way, and the client retries with the same serial.
// The server answers the retry from its table; its twin without the table
// charges again.
func TestRetryAfterLostAnswer(t *testing.T) {
	for _, tt := range []struct {
		name     string
		noDedupe bool
		applied  int
		balance  int64
	}{
		{"dedupe", false, 1, 500},
		{"no-dedupe", true, 2, 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// 10ms each way: connected at 20ms, request at the
				// server at 30ms, answer back at 40ms, reset at 35ms.
				n, err := netsim.New(netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
				require.NoError(t, err)
				defer n.Close()
				var ledger harness.Ledger
				srv := newServer(t, kv.Config{NoDedupe: tt.noDedupe, OnApply: ledger.Apply})
				ln, err := n.Host("server").Listen("tcp", ":80")
				require.NoError(t, err)
				go srv.Serve(ln)
				c, err := kv.NewClient(kv.ClientConfig{Name: "pos1", Addr: "server:80", Dial: n.Host("pos1").DialContext})
				require.NoError(t, err)
				defer c.Close()
				time.AfterFunc(35*time.Millisecond, func() { n.ResetConns("pos1", "server") })

				s := c.NewSerial()
				ledger.Issue(s.ID)
				total, err := c.Charge(context.Background(), s, "alice", 500)
				require.NoError(t, err)
				ledger.Ack(s.ID)

				assert.Equal(t, tt.balance, total)
				assert.Equal(t, tt.balance, srv.Balance("alice"))
				assert.Equal(t, int64(tt.applied), srv.Stats().Applied)
				if tt.noDedupe {
					assert.ErrorContains(t, ledger.Check(), `key "pos1-1" applied 2 times`)
				} else {
					assert.NoError(t, ledger.Check())
					assert.Equal(t, int64(1), srv.Stats().Replayed)
				}
			})
		})
	}
}

// TestClientCallsAreSerialized checks that concurrent calls on one Client
// take turns on its one connection and each gets its own answer.
func TestClientCallsAreSerialized(t *testing.T) {
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		srv := newServer(t, kv.Config{})
		ln, err := n.Host("server").Listen("tcp", ":80")
		require.NoError(t, err)
		go srv.Serve(ln)
		var dials []time.Duration
		c, err := kv.NewClient(kv.ClientConfig{Name: "pos1", Addr: "server:80", Dial: recordDials(n.Host("pos1"), time.Now(), &dials)})
		require.NoError(t, err)
		defer c.Close()
		errs := make(chan error, 10)
		for i := range 10 {
			go func() { errs <- c.Put(context.Background(), c.NewSerial(), fmt.Sprint("k", i), fmt.Sprint("v", i)) }()
		}
		for range 10 {
			require.NoError(t, <-errs)
		}
		for i := range 10 {
			v, ok, err := c.Get(context.Background(), fmt.Sprint("k", i))
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Equal(t, fmt.Sprint("v", i), v)
		}
		_, ok, err := c.Get(context.Background(), "absent")
		require.NoError(t, err)
		assert.False(t, ok)
		assert.Len(t, dials, 1, "one connection for every call")

		c.Close()
		_, _, err = c.Get(context.Background(), "k0")
		assert.ErrorIs(t, err, net.ErrClosed)
		assert.False(t, errors.Is(err, context.DeadlineExceeded))
	})
}
