package backpressure_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/examples/backpressure"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// The overload scenario of the property: ten producers, each as fast as
// the one consumer, so together 10x what it can take, against a queue of
// four messages or 1 KiB.
const (
	overloadProducers = 10
	consumerWork      = 50 * time.Millisecond // per message
	producerGap       = consumerWork          // between one producer's messages
)

// payload is the deterministic content of message seq of producer id, so
// that the consumer can check what it got.
func payload(id, seq uint64, size int) []byte {
	p := bytes.Repeat([]byte{byte(id*31 + seq)}, size)
	copy(p, backpressure.Key(id, seq)+":")
	return p
}

// fataler is what testing.TB and harness.T have in common.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// startBroker serves a broker with cfg on host "broker", port 9092, and
// returns it; the caller closes it.
func startBroker(t fataler, n *netsim.Network, cfg backpressure.Config) *backpressure.Broker {
	t.Helper()
	b, err := backpressure.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := n.Host("broker").Listen("tcp", ":9092")
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve(ln)
	return b
}

// TestEveryMessageDeliveredOrRejected is the broker's promise under drawn
// faults, a nemesis and 10x overload: every message a producer sends is
// either delivered to the consumer exactly once, or explicitly rejected to
// its producer — none silently lost, none delivered twice, none delivered
// after its producer was told no.
func TestEveryMessageDeliveredOrRejected(t *testing.T) {
	var accepted, rejected atomic.Int64 // over all cases
	harness.Check(t, func(t *harness.T) {
		perProducer := rapid.IntRange(1, 6).Draw(t.T, "messages per producer")
		size := rapid.IntRange(1, 256).Draw(t.T, "payload size")
		b := startBroker(t, t.Net, backpressure.Config{MaxMessage: 1 << 10, QueueMessages: 4, QueueBytes: 1 << 10})
		defer b.Close()
		// The producers retry connection failures until they know the
		// fate of each message: give them longer than the nemesis.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()

		var ledger harness.Ledger
		var wg sync.WaitGroup
		var mu sync.Mutex
		var problems []error
		for i := range overloadProducers {
			id := uint64(i)
			p, err := backpressure.NewProducer(backpressure.ProducerConfig{
				ID: id, Addr: "broker:9092", Dial: t.Net.Host(fmt.Sprintf("p%d", i)).DialContext, Seed: t.Seed + id,
				Deadline: 500 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Timeout: 2 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := uint64(1); seq <= uint64(perProducer); seq++ {
					key := backpressure.Key(id, seq)
					ledger.Issue(key)
					err := p.Send(ctx, seq, payload(id, seq, size))
					switch {
					case err == nil:
						ledger.Ack(key)
					case errors.Is(err, backpressure.ErrRejected):
						ledger.Reject(key)
					default:
						mu.Lock()
						problems = append(problems, err)
						mu.Unlock()
					}
					time.Sleep(producerGap)
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()

		c, err := backpressure.NewConsumer(backpressure.ConsumerConfig{
			Addr: "broker:9092", Dial: t.Net.Host("consumer").DialContext, Seed: t.Seed,
			Batch: 4, Wait: 500 * time.Millisecond, MaxMessage: 1 << 10, MaxBackoff: 200 * time.Millisecond, Timeout: 2 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for {
			finished := closed(done)
			msgs, err := c.Fetch(ctx)
			if err != nil {
				t.Fatalf("consumer: %v", err)
			}
			for _, m := range msgs {
				ledger.Apply(m.Key())
				if !bytes.Equal(m.Payload, payload(m.Producer, m.Seq, size)) {
					t.Fatalf("message %s at offset %d: payload corrupted", m.Key(), m.Offset)
				}
				time.Sleep(consumerWork) // the slow consumer
				c.Ack(m)
			}
			// Once every producer has its verdicts nothing more can be
			// queued: an empty fetch after that means the queue is drained.
			if finished && len(msgs) == 0 {
				break
			}
		}
		if err := c.Commit(ctx); err != nil {
			t.Fatalf("consumer: %v", err)
		}

		if len(problems) > 0 {
			t.Fatalf("Send ended without a verdict: %v", errors.Join(problems...))
		}
		if err := ledger.Check(); err != nil {
			t.Fatal(err)
		}
		n := ledger.Counts()
		if n.Unresolved != 0 || n.Issued != overloadProducers*perProducer || n.Applied != n.Acked || n.Acked+n.Rejected != n.Issued {
			t.Fatalf("messages silently lost: %+v", n)
		}
		if s := b.Stats(); s.Queued != 0 || s.Accepted != uint64(n.Acked) || s.Delivered != uint64(n.Acked) {
			t.Fatalf("broker: %+v, ledger %+v", s, n)
		}
		accepted.Add(int64(n.Acked))
		rejected.Add(int64(n.Rejected))
	})
	// The overload is real: over all cases, the broker said both yes and no.
	if accepted.Load() == 0 || rejected.Load() == 0 {
		t.Fatalf("overload scenario degenerate: %d accepted, %d rejected over all cases", accepted.Load(), rejected.Load())
	}
	t.Logf("over all cases: %d messages delivered, %d rejected", accepted.Load(), rejected.Load())
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
