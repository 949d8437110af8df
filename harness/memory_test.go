package harness_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

const msgSize = 8 << 10

// broker takes messages from producers and queues them for a consumer that
// is stalled (a slow downstream). With a bounded queue it answers "NO"
// when full (backpressure); the buggy twin's queue is unbounded and answers
// "OK" to everything, buffering it all.
type broker struct {
	bound int // 0: unbounded
	queue [][]byte
	taken chan struct{} // one token per message answered
}

func (b *broker) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go b.handle(c)
	}
}

func (b *broker) handle(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		msg := make([]byte, msgSize)
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		reply := "OK\n"
		if b.bound > 0 && len(b.queue) >= b.bound {
			reply = "NO\n" // say no rather than fall over
		} else {
			b.queue = append(b.queue, msg)
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
		b.taken <- struct{}{}
	}
}

// overload is the scenario: one producer sends load messages as fast as
// the broker answers, and nothing consumes them.
func overload(bound int) func(t *testing.T, n *netsim.Network, load int) {
	return func(t *testing.T, n *netsim.Network, load int) {
		b := &broker{bound: bound, taken: make(chan struct{}, load)}
		ln, err := n.Host("broker").Listen("tcp", ":4222")
		require.NoError(t, err)
		go b.serve(ln)
		c, err := n.Host("producer").Dial("tcp", "broker:4222")
		require.NoError(t, err)
		go func() {
			r := bufio.NewReader(c)
			msg := make([]byte, msgSize)
			for range load {
				if _, err := c.Write(msg); err != nil {
					return
				}
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
			}
		}()
		for range load {
			<-b.taken
		}
		runtime.KeepAlive(b.queue)
	}
}

// TestMemoryBoundCatchesUnboundedQueue proves the memory check on a bounded
// queue and its unbounded twin under 10x overload, 20 times each.
func TestMemoryBoundCatchesUnboundedQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory over 80 bubbles")
	}
	bound := harness.Bound{Load: 100, Factor: 10, Interval: time.Second, GoroutineSlack: 2}
	for i := range 20 {
		res, err := harness.MeasureBounded(t, bound, overload(64))
		require.NoError(t, err, "run %d: the bounded broker failed the check: %v", i, res)
		res, err = harness.MeasureBounded(t, bound, overload(0))
		require.Error(t, err, "run %d: the unbounded broker passed the check: %v", i, res)
		require.Contains(t, err.Error(), "peak heap grew")
		if i == 0 {
			t.Logf("unbounded: %v", res)
		}
	}
}

// TestCheckBoundedPasses shows CheckBounded as a test would use it.
func TestCheckBoundedPasses(t *testing.T) {
	harness.CheckBounded(t, harness.Bound{Load: 50, Factor: 10, Interval: time.Second}, overload(32))
}

// TestSamplerCountsGoroutines: the sampler sees goroutines that come and
// go between its ticks only if it samples while they live.
func TestSamplerCountsGoroutines(t *testing.T) {
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		s := harness.StartSampler(10 * time.Millisecond)
		base := runtime.NumGoroutine()
		stop := make(chan struct{})
		for range 50 {
			go func() { <-stop }()
		}
		time.Sleep(25 * time.Millisecond) // two ticks while the 50 live
		close(stop)
		u := s.Stop()
		require.GreaterOrEqual(t, u.Goroutines, base+50)
		require.GreaterOrEqual(t, u.Samples, 3)
		require.Contains(t, fmt.Sprint(u), "peak goroutines")
	})
}
