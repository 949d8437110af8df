package faultconn_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
)

// dialerParallel has three goroutines dial with one Dialer at the same
// virtual instant, in the order given, and then each write its own
// request; it returns the trace and each request's conn name.
func dialerParallel(t *testing.T, order []int) (trace string, names []string) {
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(0)
		d := &faultconn.Dialer{
			Config: faultconn.Config{Seed: 9, Trace: tr, Out: faultconn.Profile{Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.5, Segment: 4}},
			Base: func(context.Context, string, string) (net.Conn, error) {
				c, s := net.Pipe()
				go io.Copy(io.Discard, s)
				return c, nil
			},
		}
		names = make([]string, len(order))
		conns := make([]net.Conn, len(order))
		for _, i := range order {
			c, err := d.Dial("tcp", "server:80")
			require.NoError(t, err)
			conns[i] = c
		}
		var wg sync.WaitGroup
		for _, i := range order {
			wg.Go(func() {
				_, err := fmt.Fprintf(conns[i], "request %d\n", i)
				require.NoError(t, err)
				names[i] = conns[i].(*faultconn.Conn).Name()
				conns[i].Close()
				<-conns[i].(*faultconn.Conn).Done()
			})
			synctest.Wait()
		}
		wg.Wait()
		var b strings.Builder
		require.NoError(t, tr.WriteText(&b))
		trace = b.String()
	})
	return trace, names
}

// TestDialerParallelKeyedByContent: a Dialer's conns dialed at one
// instant are named and keyed by their first write, whichever dialed
// first.
func TestDialerParallelKeyedByContent(t *testing.T) {
	trace1, names1 := dialerParallel(t, []int{0, 1, 2})
	trace2, names2 := dialerParallel(t, []int{1, 2, 0})
	require.Equal(t, names1, names2)
	require.Equal(t, trace1, trace2)
	for _, n := range names1 {
		require.Regexp(t, `^dial#1/[0-9a-f]{8}$`, n)
	}
	require.Contains(t, trace1, "retransmit", "the fates matter: something was lost")
}
