package backpressure_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/examples/backpressure"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// Memory is measured process-wide: no test in this package runs in
// parallel.

// The memory scenario: a fixed number of producers send load messages of
// 8 KiB in all, as fast as the broker answers, to one consumer that takes
// 10ms per message. The load grows; producers and consumers do not.
const (
	memProducers = 4
	memSize      = 8 << 10
	memWork      = 10 * time.Millisecond
	// memTimeout is the clients' attempt timeout. Inside a synctest
	// bubble a stopped timer stays in memory until the instant it was
	// due (the runtime never sweeps the bubble's timer heap of them), so
	// every attempt's timers hold memory for this long: keep it short,
	// or the heap grows with the scenario's duration, that is, its load.
	memTimeout = 200 * time.Millisecond
)

// memBound is the check: load N = 100 messages and 10N, sampled every
// virtual second; the goroutine slack allows for a timer's goroutine.
var memBound = harness.Bound{Load: 100, Factor: 10, Interval: 100 * time.Millisecond, GoroutineSlack: 2}

// boundedConfig queues at most 32 messages or 256 KiB.
var boundedConfig = backpressure.Config{MaxMessage: 64 << 10, QueueMessages: 32, QueueBytes: 256 << 10}

// unboundedConfig is the buggy twin: the same broker with no capacity.
var unboundedConfig = backpressure.Config{MaxMessage: 64 << 10, QueueMessages: 32, QueueBytes: 256 << 10, Unbounded: true}

// overload returns the memory scenario for a broker with cfg. It returns
// when every producer has its verdicts, after holding the broker's state
// for two samples.
func overload(cfg backpressure.Config) func(t *testing.T, n *netsim.Network, load int) {
	return func(t *testing.T, n *netsim.Network, load int) {
		b := startBroker(t, n, cfg)
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()

		cctx, stopConsumer := context.WithCancel(ctx)
		c, err := backpressure.NewConsumer(backpressure.ConsumerConfig{
			Addr: "broker:9092", Dial: n.Host("consumer").DialContext, MaxMessage: cfg.MaxMessage, Batch: 8, Wait: 100 * time.Millisecond, Timeout: memTimeout,
		})
		require.NoError(t, err)
		defer c.Close()
		var consumer sync.WaitGroup
		consumer.Go(func() {
			for {
				msgs, err := c.Fetch(cctx)
				if err != nil {
					return
				}
				for _, m := range msgs {
					time.Sleep(memWork)
					c.Ack(m)
				}
			}
		})

		var wg, sending sync.WaitGroup
		release := make(chan struct{})
		var mu sync.Mutex
		var accepted, rejected int
		for i := range memProducers {
			p, err := backpressure.NewProducer(backpressure.ProducerConfig{
				ID: uint64(i), Addr: "broker:9092", Dial: n.Host(fmt.Sprintf("p%d", i)).DialContext, Seed: uint64(i),
				Deadline: 50 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
				Timeout: memTimeout,
			})
			require.NoError(t, err)
			defer p.Close()
			sending.Add(1)
			wg.Go(func() {
				// Every producer lives until the end, so that the
				// goroutine peaks compare like with like.
				defer func() { <-release }()
				defer sending.Done()
				msg := make([]byte, memSize)
				for seq := range uint64(load / memProducers) {
					err := p.Send(ctx, seq+1, msg)
					mu.Lock()
					if err == nil {
						accepted++
					} else {
						rejected++
					}
					mu.Unlock()
				}
			})
		}
		sending.Wait()
		time.Sleep(2 * memBound.Interval) // the broker holds what it took while the sampler ticks
		close(release)
		wg.Wait()
		stopConsumer()
		consumer.Wait()
		s := b.Stats()
		t.Logf("load %d: %d accepted, %d rejected; broker: %d queued (%d KiB), %d refusals", load, accepted, rejected, s.Queued, s.QueuedBytes>>10, s.Refused)
		require.Equal(t, load, accepted+rejected)
	}
}

// TestMemoryBounded proves that the bounded broker's peak heap and
// goroutines do not grow with the load: 10x the messages, the same memory.
func TestMemoryBounded(t *testing.T) {
	harness.CheckBounded(t, memBound, overload(boundedConfig))
}

// TestTwinUnboundedQueue is the buggy twin's memory check: a broker that
// accepts everything buffers 10x the messages in 10x the memory, and the
// check must fail. Run by TestMemoryCatchesUnboundedTwin.
func TestTwinUnboundedQueue(t *testing.T) {
	if harness.Twin() != "unbounded" {
		t.Skip("the buggy twin; run by TestMemoryCatchesUnboundedTwin")
	}
	harness.CheckBounded(t, memBound, overload(unboundedConfig))
}

// TestMemoryCatchesUnboundedTwin proves the memory check on the buggy
// twin, in a child process (a failing check fails its test), and once
// more in-process with MeasureBounded.
func TestMemoryCatchesUnboundedTwin(t *testing.T) {
	res := harness.RunTwin(t, "TestTwinUnboundedQueue", "unbounded")
	require.True(t, res.Failed, "the unbounded twin passed the memory check:\n%s", res.Output)
	require.Contains(t, res.Output, "not bounded under load")
	require.Contains(t, res.Output, "peak heap grew")

	m, err := harness.MeasureBounded(t, memBound, overload(unboundedConfig))
	require.Error(t, err, "the unbounded twin passed: %v", m)
	require.Contains(t, err.Error(), "not bounded under load")
	t.Logf("unbounded twin: %v", m)
}
