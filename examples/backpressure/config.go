package backpressure

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of the broker's explicit limits, used where Config leaves them
// zero.
const (
	DefaultMaxMessage    = 1 << 20 // largest payload, like Kafka's message.max.bytes and NATS's max_payload
	DefaultQueueMessages = 1024
	DefaultQueueBytes    = 64 << 20
	DefaultMaxConns      = 1024
	DefaultMaxProducers  = 4096
	DefaultIdleTimeout   = 2 * time.Minute
	DefaultWriteTimeout  = 10 * time.Second

	// MaxFetchWait caps how long the broker holds a FETCH on an empty
	// queue, whatever the consumer asks for.
	MaxFetchWait = 30 * time.Second
	// MaxFetchMessages caps the messages of one FETCH reply.
	MaxFetchMessages = 1024
	// maxMaxMessage keeps a PRODUCE frame's length within 32 bits.
	maxMaxMessage = 1 << 30
)

// ErrBrokerClosed is returned by Serve after Close.
var ErrBrokerClosed = errors.New("backpressure: broker closed")

// Config sets a Broker's limits. The zero value means the default of every
// limit: 1 MiB messages, a queue of 1024 messages or 64 MiB, 1024
// connections, 4096 producer IDs.
type Config struct {
	// MaxMessage is the largest payload the broker accepts, in bytes. A
	// larger message is answered with TOO_LARGE (the producer's Send
	// fails with ErrTooLarge) and its bytes are read and discarded as
	// they arrive, never buffered; the connection stays usable. Zero
	// means DefaultMaxMessage (1 MiB); at most 1 GiB.
	MaxMessage int
	// QueueMessages is how many messages the queue holds, counting those
	// delivered but not yet acknowledged and those being received. When
	// it is full the broker answers RETRY ("no, retry later") instead of
	// taking the message. Zero means DefaultQueueMessages.
	QueueMessages int
	// QueueBytes is how many payload bytes the queue holds, counted like
	// QueueMessages. It must be at least MaxMessage. Zero means
	// DefaultQueueBytes.
	QueueBytes int64
	// MaxConns is how many connections the broker serves at once; one
	// more is answered BUSY and closed. Zero means DefaultMaxConns.
	MaxConns int
	// MaxProducers is how many producer IDs the broker remembers (one
	// small record each, for deduplication and fencing); a HELLO from
	// one more is answered BUSY. Zero means DefaultMaxProducers.
	MaxProducers int
	// IdleTimeout closes a connection that sends nothing for this long,
	// including in the middle of a frame (give or take half of it: the
	// deadline moves forward once half of it is used). Zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// WriteTimeout closes a connection whose reply cannot be written
	// within this long (give or take half of it, like IdleTimeout). Zero
	// means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Unbounded turns the broker into its buggy twin: the queue has no
	// capacity limit and accepts everything, buffering it in memory, so
	// a slow consumer makes it grow without end. It exists so that the
	// tests can prove that they catch this; never set it otherwise.
	Unbounded bool
}

func (c Config) withDefaults() Config {
	if c.MaxMessage == 0 {
		c.MaxMessage = DefaultMaxMessage
	}
	if c.QueueMessages == 0 {
		c.QueueMessages = DefaultQueueMessages
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = max(DefaultQueueBytes, int64(c.MaxMessage))
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxProducers == 0 {
		c.MaxProducers = DefaultMaxProducers
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	return c
}

// Validate reports every problem of c in one error, each naming the field,
// the value and the valid range.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, rng string) {
		errs = append(errs, fmt.Errorf("backpressure: Config.%s %v out of range %s", field, v, rng))
	}
	if c.MaxMessage < 0 || c.MaxMessage > maxMaxMessage {
		bad("MaxMessage", c.MaxMessage, "[0,1073741824] (0 means 1 MiB)")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"QueueMessages", int64(c.QueueMessages)}, {"MaxConns", int64(c.MaxConns)}, {"MaxProducers", int64(c.MaxProducers)}} {
		if f.v < 0 {
			bad(f.name, f.v, "[0,∞) (0 means the default)")
		}
	}
	if c.IdleTimeout < 0 {
		bad("IdleTimeout", c.IdleTimeout, "[0,∞) (0 means 2m0s)")
	}
	if c.WriteTimeout < 0 {
		bad("WriteTimeout", c.WriteTimeout, "[0,∞) (0 means 10s)")
	}
	d := c.withDefaults()
	if c.QueueBytes < 0 || (c.QueueBytes != 0 && c.QueueBytes < int64(d.MaxMessage)) {
		bad("QueueBytes", c.QueueBytes, fmt.Sprintf("[MaxMessage=%d,∞) (0 means 64 MiB): a queue must hold a message of the largest size", d.MaxMessage))
	}
	return errors.Join(errs...)
}

// Stats counts what a Broker did.
type Stats struct {
	Accepted   uint64 // messages queued
	Duplicates uint64 // retries of messages already queued, acknowledged again and not queued
	Refused    uint64 // RETRY replies: the queue was full
	TooLarge   uint64 // messages over MaxMessage, skipped unread
	Fenced     uint64 // HELLOs and PRODUCEs on connections superseded by a newer one of the same producer
	Stale      uint64 // PRODUCEs with a sequence number below the producer's last accepted one
	Delivered  uint64 // messages the consumer acknowledged, dropped from the queue
	Conns      uint64 // connections served
	Busy       uint64 // connections and HELLOs turned away at MaxConns or MaxProducers

	Queued      int   // messages in the queue now, delivered or not, not yet acknowledged
	QueuedBytes int64 // their payload bytes
	Open        int   // connections open now
}
