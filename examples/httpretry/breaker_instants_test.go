package httpretry_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/examples/httpretry"
	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// timeline records events with their instants since start.
type timeline struct {
	start time.Time
	mu    sync.Mutex
	log   []string
}

func (tr *timeline) record(from, to httpretry.State) { tr.add(fmt.Sprintf("%v->%v", from, to)) }

func (tr *timeline) add(what string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.log = append(tr.log, fmt.Sprintf("%v %s", time.Since(tr.start), what))
}

func (tr *timeline) get() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.log...)
}

// TestBreakerInstants walks the circuit breaker through its states against
// a server cut off by n.Isolate, asserting the exact virtual instant of
// every step. Links have 10ms latency each way, so a dial costs 20ms and a
// request on an open connection 20ms. The client posts keys k1 to k8; its
// attempts time out after 200ms, it makes 3 attempts per Post with 100ms
// then 200ms between them, and the breaker opens after 5 consecutive
// failures and cools down for 1s:
//
//	   0ms  k1 dials (20ms) and is answered (20ms) at 40ms
//	 100ms  the server is isolated
//	 100ms  k2: attempts fail at 300, 600, 1000ms: failures 1-3
//	1000ms  k3: attempts fail at 1200, 1500ms: failures 4-5
//	1500ms  the breaker opens; k3 returns ErrOpen at once
//	1500ms  k4 fails fast: no time passes, no dial
//	2500ms  1ns before the cool-down ends, k5 still fails fast; at
//	        2500ms k5 is the half-open trial, fails at 2700ms, and the
//	        breaker opens again
//	3000ms  the network heals
//	3110ms  k2's first request, retransmitted since 100ms on a conn the
//	        client closed at 300ms, reaches the server, which runs it
//	3700ms  k6 is the trial: it dials and is answered, closing the
//	        breaker at 3740ms
//	3710ms  k7, during the trial, fails fast
//	3740ms  k8 reuses the trial's conn: answered at 3760ms
func TestBreakerInstants(t *testing.T) {
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		// Set both directions, so that -headwind.faults cannot move the
		// instants.
		lat := faultconn.Profile{Latency: 10 * time.Millisecond}
		require.NoError(t, n.SetLink("client", "server", lat))
		require.NoError(t, n.SetLink("server", "client", lat))

		start := time.Now()
		since := func() time.Duration { return time.Since(start) }
		handled := &timeline{start: start} // keys the server ran, with instants
		srv := &http.Server{Handler: &httpretry.Deduper{Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handled.add(r.Header.Get(httpretry.KeyHeader))
			io.WriteString(w, "ok")
		})}}
		ln, err := n.Host("server").Listen("tcp", ":80")
		require.NoError(t, err)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()

		changes := &timeline{start: start}
		br := &httpretry.Breaker{Failures: 5, CoolDown: time.Second, OnChange: changes.record}
		var dials atomic.Int32
		host := n.Host("client")
		c := &httpretry.Client{
			Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return host.DialContext(ctx, network, addr)
			},
			Timeout:  200 * time.Millisecond,
			Attempts: 3,
			Backoff:  100 * time.Millisecond,
			Breaker:  br,
		}
		ctx := context.Background()
		post := func(key string) (*httpretry.Response, error) {
			return c.Post(ctx, "http://server/charge", key, []byte(key))
		}

		resp, err := post("k1")
		require.NoError(t, err)
		require.Equal(t, "ok", string(resp.Body))
		require.Equal(t, 40*time.Millisecond, since(), "dial RTT + request RTT")
		require.Equal(t, httpretry.Closed, br.State())

		time.Sleep(60 * time.Millisecond)
		n.Isolate("server")

		_, err = post("k2")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, httpretry.ErrOpen)
		require.Equal(t, 1000*time.Millisecond, since(), "3 attempts of 200ms, 100ms and 200ms apart")
		require.Equal(t, httpretry.Closed, br.State(), "3 failures of 5")

		_, err = post("k3")
		require.ErrorIs(t, err, httpretry.ErrOpen)
		require.ErrorIs(t, err, context.DeadlineExceeded, "wraps the last attempt's error")
		require.Equal(t, 1500*time.Millisecond, since(), "opens at the 5th failure and returns at once")
		require.Equal(t, httpretry.Open, br.State())
		require.Equal(t, []string{"1.5s closed->open"}, changes.get())

		d := dials.Load()
		_, err = post("k4")
		require.ErrorIs(t, err, httpretry.ErrOpen)
		require.Equal(t, 1500*time.Millisecond, since(), "fails fast: no time passes")
		require.Equal(t, d, dials.Load(), "no dial while open")

		time.Sleep(time.Second - 1)
		_, err = post("k5")
		require.ErrorIs(t, err, httpretry.ErrOpen, "1ns before the cool-down ends")
		time.Sleep(1)
		_, err = post("k5")
		require.ErrorIs(t, err, httpretry.ErrOpen)
		require.ErrorIs(t, err, context.DeadlineExceeded, "the trial went out and timed out")
		require.Equal(t, 2700*time.Millisecond, since())
		require.Equal(t, d+1, dials.Load(), "the trial dialed")
		require.Equal(t, []string{"1.5s closed->open", "2.5s open->half-open", "2.7s half-open->open"}, changes.get())

		time.Sleep(300 * time.Millisecond)
		n.Heal()
		time.Sleep(700 * time.Millisecond)
		require.Equal(t, 3700*time.Millisecond, since())
		trial := make(chan error, 1)
		go func() {
			_, err := post("k6")
			trial <- err
		}()
		time.Sleep(10 * time.Millisecond)
		_, err = post("k7")
		require.ErrorIs(t, err, httpretry.ErrOpen, "one trial at a time")
		require.Equal(t, 3710*time.Millisecond, since())
		require.NoError(t, <-trial)
		require.Equal(t, 3740*time.Millisecond, since(), "dial RTT + request RTT")
		require.Equal(t, httpretry.Closed, br.State())
		require.Equal(t, []string{"1.5s closed->open", "2.5s open->half-open", "2.7s half-open->open",
			"3.7s open->half-open", "3.74s half-open->closed"}, changes.get())
		// The server ran k1, then k2 when the retransmission of its first
		// attempt's request (sent at 100ms, resent at 300, 700, 1500 and
		// 3100ms, though the client had closed the conn at 300ms) arrived
		// after the heal, then the trial.
		require.Equal(t, []string{"30ms k1", "3.11s k2", "3.73s k6"}, handled.get())

		resp, err = post("k8")
		require.NoError(t, err)
		require.Equal(t, 1, resp.Attempts)
		require.Equal(t, 3760*time.Millisecond, since(), "closed: kept-alive conn, one RTT")

		c.CloseIdleConnections()
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-served, http.ErrServerClosed)
	})
}
