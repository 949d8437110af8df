package backpressure_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/headwind-go/headwind/examples/backpressure"
	"github.com/headwind-go/headwind/netsim"
)

// A broker with room for two messages and no consumer yet: the third
// message is refused until its producer's deadline, and reported; the two
// queued ones reach the consumer. The network is a perfect netsim one, in
// real time.
func Example() {
	n, _ := netsim.New(netsim.Config{Seed: 1})
	defer n.Close()
	ln, _ := n.Host("broker").Listen("tcp", ":9092")
	b, _ := backpressure.New(backpressure.Config{QueueMessages: 2})
	go b.Serve(ln)
	defer b.Close()

	ctx := context.Background()
	p, _ := backpressure.NewProducer(backpressure.ProducerConfig{
		ID: 1, Addr: "broker:9092", Dial: n.Host("app").DialContext, Deadline: 50 * time.Millisecond,
	})
	defer p.Close()
	for seq := uint64(1); seq <= 3; seq++ {
		switch err := p.Send(ctx, seq, []byte("hello")); {
		case err == nil:
			fmt.Printf("message %d queued\n", seq)
		case errors.Is(err, backpressure.ErrFull):
			fmt.Printf("message %d rejected: the queue is full\n", seq)
		default:
			fmt.Println(err)
		}
	}

	c, _ := backpressure.NewConsumer(backpressure.ConsumerConfig{Addr: "broker:9092", Dial: n.Host("worker").DialContext})
	defer c.Close()
	msgs, _ := c.Fetch(ctx)
	for _, m := range msgs {
		fmt.Printf("%s at offset %d: %s\n", m.Key(), m.Offset, m.Payload)
		c.Ack(m)
	}
	c.Commit(ctx)
	fmt.Println("left in the queue:", b.Stats().Queued)
	// Output:
	// message 1 queued
	// message 2 queued
	// message 3 rejected: the queue is full
	// 1/1 at offset 0: hello
	// 1/2 at offset 1: hello
	// left in the queue: 0
}
