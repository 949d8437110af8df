package netsim_test

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// parallelDials has three goroutines of host a dial b:80 at the same
// virtual instant, in the order given (each reaches Dial only once the
// ones before it are blocked in theirs), and send their request; b
// answers each request line with ten lines back. It returns the trace and,
// per request, the connection's name and its answer's arrival instant.
func parallelDials(t *testing.T, order []int) (trace string, names, arrivals []string) {
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(0)
		n, err := netsim.New(netsim.Config{Seed: 5, Trace: tr, Default: faultconn.Profile{
			Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.2, Segment: 8}})
		require.NoError(t, err)
		defer n.Close()
		ln, err := n.Host("b").Listen("tcp", ":80")
		require.NoError(t, err)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					line, _ := bufio.NewReader(c).ReadString('\n')
					for i := range 10 {
						fmt.Fprintf(c, "%d %s", i, line)
					}
				}()
			}
		}()
		start := time.Now()
		names = make([]string, len(order))
		arrivals = make([]string, len(order))
		var wg sync.WaitGroup
		for _, i := range order {
			wg.Go(func() {
				c, err := n.Host("a").Dial("tcp", "b:80")
				require.NoError(t, err)
				defer c.Close()
				fmt.Fprintf(c, "request %d\n", i)
				r := bufio.NewReader(c)
				for range 10 {
					_, err := r.ReadString('\n')
					require.NoError(t, err)
				}
				names[i] = c.(*netsim.Conn).Name()
				arrivals[i] = time.Since(start).String()
			})
			synctest.Wait() // it is in Dial, at the same instant
		}
		wg.Wait()
		var b strings.Builder
		require.NoError(t, tr.WriteText(&b))
		trace = b.String()
	})
	return trace, names, arrivals
}

// TestParallelDialsKeyedByContent: connections dialed from one host at one
// instant get their random streams, and from their first write their
// names, from what they carry: whichever goroutine dials first, each
// request meets the same fates, at the same instants, under the same
// name, and the trace is the same.
func TestParallelDialsKeyedByContent(t *testing.T) {
	trace1, names1, at1 := parallelDials(t, []int{0, 1, 2})
	trace2, names2, at2 := parallelDials(t, []int{2, 0, 1})
	require.Equal(t, at1, at2, "each request's answer arrives at the same instant")
	require.Equal(t, names1, names2)
	require.Equal(t, trace1, trace2)
	for _, name := range names1 {
		require.Regexp(t, `^a->b:80#1/[0-9a-f]{8}$`, name)
	}
	sorted := slices.Clone(names1)
	slices.Sort(sorted)
	require.Len(t, slices.Compact(sorted), 3, "distinct names")
	require.Contains(t, trace1, "retransmit", "the fates matter: something was lost")
}
