// Package backpressure is a small message broker with explicit limits,
// and a demonstration, tested under a bad network, that saying "no" beats
// falling over.
//
// When producers outrun a consumer, a broker can buffer or refuse.
// Buffering looks kind — nobody is told no — until the backlog has eaten
// the memory: latency grows with the queue, the process is killed, and
// every queued message and connection dies with it. Refusing ("no, retry
// later") keeps memory, goroutines and latency bounded whatever the load,
// and hands the decision to the one who can make it: the producer backs
// off, retries, and when its deadline passes, reports the message as
// rejected — slow down, shed, or tell the user. With idempotent retries
// nothing is lost silently: every message is delivered exactly once or
// explicitly rejected to its producer. Kafka (message.max.bytes, quotas)
// and NATS (max_payload, slow consumers) make the same choice.
//
//	b, _ := backpressure.New(backpressure.Config{QueueMessages: 1000})
//	go b.Serve(ln) // any net.Listener
//	defer b.Close()
//
//	p, _ := backpressure.NewProducer(backpressure.ProducerConfig{ID: 1, Addr: "broker:9092"})
//	switch err := p.Send(ctx, seq, payload); {
//	case err == nil: // queued; the consumer gets it exactly once
//	case errors.Is(err, backpressure.ErrRejected): // the broker said no (ErrFull, ErrTooLarge)
//	default: // ErrOutcomeUnknown: ctx ended first; Send seq again to learn the outcome
//	}
//
//	c, _ := backpressure.NewConsumer(backpressure.ConsumerConfig{Addr: "broker:9092"})
//	msgs, err := c.Fetch(ctx) // waits up to ConsumerConfig.Wait for a message
//	for _, m := range msgs {
//		handle(m)
//		c.Ack(m) // the broker frees the room with the next Fetch or Commit
//	}
//
// # Limits
//
// Every limit is a Config field with a documented default:
//
//   - MaxMessage (1 MiB): a larger message is answered TOO_LARGE and Send
//     fails at once with ErrTooLarge. The broker decides from the frame's
//     header and discards the payload as it streams in, never holding it;
//     the connection stays usable for the next message.
//   - QueueMessages (1024) and QueueBytes (64 MiB): the queue counts what
//     is waiting, what was delivered but not acknowledged, and what is
//     being received (room is reserved before a payload is read). When
//     either is full the broker answers RETRY and discards the payload;
//     the producer backs off, exponentially and jittered, and retries
//     until its Deadline (10s), then fails with ErrFull.
//   - MaxConns (1024) and MaxProducers (4096): beyond them a connection or
//     a new producer ID is answered BUSY; clients back off and retry.
//   - IdleTimeout (2m) and WriteTimeout (10s) close connections that stall.
//
// So the broker's memory is about QueueBytes plus, per connection, a read
// buffer and one reply (at most a Fetch's batch of MaxMessage bytes), and
// it runs one goroutine per connection: bounded by its Config, not by the
// load. The Unbounded field turns the broker into its buggy twin, whose
// queue accepts everything; it exists for the tests.
//
// There is one queue, with one read position: use one Consumer at a time.
//
// # Exactly once
//
// A message's idempotency key is its producer's ID and sequence number,
// Key(id, seq). The broker remembers the last sequence number it queued
// per producer and answers a retry of it DUPLICATE, so a message is
// queued at most once however often a lost reply makes the producer send
// it. Every connection of a producer says HELLO with a higher epoch; the
// broker closes the producer's older connections and never queues from
// them again, so a retry stuck in an old connection cannot be queued
// after the producer heard "no" on the new one: a RETRY on the current
// connection is final, and a rejected message is never delivered. A
// producer whose last attempt broke keeps asking until it gets a verdict
// (past its Deadline, until Send's context ends).
//
// The queue is a log with offsets. The consumer asks from its position
// and acknowledges cumulatively (every message before an offset); the
// broker keeps a message until it is acknowledged, and the consumer
// returns each offset once, so a lost reply means a repeated fetch, not a
// lost or duplicated message.
//
// # Errors
//
// Send returns nil when the message was queued; a *RejectedError, which
// matches ErrRejected and its reason, ErrFull or ErrTooLarge, when the
// broker refused it; ErrOutcomeUnknown (with the context's error) when
// its context ended while the outcome was unknown; ErrFenced when another
// Producer uses its ID; ErrStaleSeq for a sequence number not above the
// last. Fetch and Commit retry failed connections until their context
// ends, and then return its error. Serve returns ErrBrokerClosed after
// Close. Configuration errors name the field, the value and the range.
//
// # Time
//
// The broker and its clients take time from package time only and block
// on channels, timers and connections, so inside a testing/synctest bubble
// over a netsim network — as in this package's tests — the whole system
// runs on virtual time: minutes of backoff, timeouts and slow consumers
// take milliseconds. Each client jitters its backoff from its own random
// source, seeded from its config, so its backoffs replay with the seed.
//
// # Protocol
//
// Every frame is a 4-byte big-endian length, counting the bytes after it,
// then a type byte and a body; integers are big-endian. A client sends one
// request and reads its reply before the next.
//
//	0x01 HELLO    producer u64, epoch u64 -> 0x81 WELCOME | 0x86 FENCED | 0x89 BUSY
//	0x02 PRODUCE  seq u64, payload        -> 0x82 ACCEPTED | 0x83 DUPLICATE | 0x84 RETRY |
//	                                         0x85 TOO_LARGE | 0x86 FENCED | 0x87 STALE, each with seq u64
//	0x03 FETCH    commit u64, position u64, max u32, maxBytes u32, wait ns i64
//	              -> 0x88 MESSAGES end u64, count u32, count × (offset, producer, seq u64, len u32, payload)
//
// A malformed request is answered 0x8f ERROR with a text, and the
// connection is closed.
//
// # How the tests prove it
//
// TestEveryMessageDeliveredOrRejected is a harness.Check property: under
// drawn faults (latency, jitter, loss, duplication, reordering,
// segmentation) and a nemesis (partitions, isolations, degraded links,
// connection resets), ten producers send at ten times the rate of one slow
// consumer into a queue of four messages. A harness.Ledger books every
// message: Issue when produced, Apply when the consumer receives it, Ack
// when the broker queued it, Reject when it refused it. It must balance —
// nothing applied twice, nothing acknowledged and lost, nothing applied
// after a rejection — with no message unresolved: none silently lost.
//
// TestMemoryBounded runs an overload at N and 10N messages through
// harness.CheckBounded: the peak heap and goroutines must not grow with
// the load. TestMemoryCatchesUnboundedTwin runs the same check on the
// Unbounded twin in a child process (harness.RunTwin) and asserts that it
// fails, "not bounded under load".
//
// TestMaxMessageSize, TestOversizedMessageIsNotBuffered,
// TestFullQueueSaysRetryLater and TestStaleConnectionIsFenced pin down
// the exact behaviour at each limit.
package backpressure
