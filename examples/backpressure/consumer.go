package backpressure

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a Consumer's settings.
const (
	DefaultBatch = 64
	DefaultWait  = time.Second
)

// Message is a message as the consumer receives it.
type Message struct {
	Offset   uint64 // its position in the broker's queue, from 0
	Producer uint64 // the producer's ID
	Seq      uint64 // the producer's sequence number
	Payload  []byte
}

// Key returns the message's idempotency key, Key(m.Producer, m.Seq).
func (m Message) Key() string { return Key(m.Producer, m.Seq) }

// ConsumerConfig configures a Consumer. Only Addr is required.
type ConsumerConfig struct {
	// Addr is the broker's address, "host:port".
	Addr string
	// Dial dials the broker. Nil means a net.Dialer's DialContext.
	Dial Dialer
	// Seed seeds the consumer's own random source, which jitters its
	// backoff. Zero is a seed like any other.
	Seed uint64
	// Batch is the most messages one Fetch returns. Zero means
	// DefaultBatch; at most MaxFetchMessages.
	Batch int
	// MaxMessage is the largest payload the consumer takes; it must be at
	// least the broker's. A Fetch returns at most this many payload bytes
	// (or one message). Zero means DefaultMaxMessage.
	MaxMessage int
	// Wait is how long the broker holds a Fetch while the queue has
	// nothing new (a long poll). Zero means DefaultWait; at most
	// MaxFetchWait.
	Wait time.Duration
	// MinBackoff and MaxBackoff bound the backoff between attempts after
	// a failure. Zero means DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one attempt beyond Wait: dial, request and reply.
	// Zero means DefaultTimeout.
	Timeout time.Duration
}

func (c *ConsumerConfig) fill() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("backpressure: ConsumerConfig.Addr is empty; want the broker's host:port"))
	}
	if c.Dial == nil {
		c.Dial = (&net.Dialer{}).DialContext
	}
	if c.Batch < 0 || c.Batch > MaxFetchMessages {
		errs = append(errs, fmt.Errorf("backpressure: ConsumerConfig.Batch %d out of range [0,%d] (0 means %d)", c.Batch, MaxFetchMessages, DefaultBatch))
	} else if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.MaxMessage < 0 || c.MaxMessage > maxMaxMessage {
		errs = append(errs, fmt.Errorf("backpressure: ConsumerConfig.MaxMessage %d out of range [0,%d] (0 means 1 MiB)", c.MaxMessage, maxMaxMessage))
	} else if c.MaxMessage == 0 {
		c.MaxMessage = DefaultMaxMessage
	}
	if c.Wait < 0 || c.Wait > MaxFetchWait {
		errs = append(errs, fmt.Errorf("backpressure: ConsumerConfig.Wait %v out of range [0,%v] (0 means %v)", c.Wait, MaxFetchWait, DefaultWait))
	} else if c.Wait == 0 {
		c.Wait = DefaultWait
	}
	errs = append(errs, fillRetry("ConsumerConfig", &c.MinBackoff, &c.MaxBackoff, &c.Timeout))
	return errors.Join(errs...)
}

// Consumer pulls messages from a broker's queue and acknowledges them.
// Every message queued is returned by Fetch exactly once, in queue order,
// however often the connection fails: the consumer tracks its position
// and the broker keeps a message until it is acknowledged. Acknowledge
// with Ack; acknowledgements travel with the next Fetch, or with Commit.
// The broker's queue has one read position: use one Consumer at a time.
//
// A Consumer is safe for concurrent use; Fetch and Commit run one at a
// time, Ack never blocks.
type Consumer struct {
	cfg    ConsumerConfig
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	commit atomic.Uint64 // everything before it is acknowledged

	mu   sync.Mutex // held by Fetch and Commit throughout; guards the fields below
	c    net.Conn
	r    *bufio.Reader
	wbuf []byte
	bo   backoff
	pos  uint64 // the offset of the next message to return
}

// NewConsumer returns a consumer for cfg, or an error naming every invalid
// field. It does not dial until the first Fetch.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Consumer{
		cfg: cfg, ctx: ctx, cancel: cancel,
		bo: backoff{min: cfg.MinBackoff, max: cfg.MaxBackoff, rng: rand.New(rand.NewPCG(cfg.Seed, 0xc0))},
	}, nil
}

// Ack acknowledges m and every message before it, so the broker can drop
// them and make room. It never blocks; the acknowledgement goes with the
// next Fetch or Commit.
func (c *Consumer) Ack(m Message) {
	for {
		old := c.commit.Load()
		if m.Offset < old || c.commit.CompareAndSwap(old, m.Offset+1) {
			return
		}
	}
}

// Position returns the offset of the next message Fetch will return.
func (c *Consumer) Position() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

// Close makes a Fetch or Commit in progress return and closes the
// connection; later calls fail with net.ErrClosed. Close is idempotent.
func (c *Consumer) Close() error {
	c.cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop()
	return nil
}

func (c *Consumer) drop() {
	if c.c != nil {
		c.c.Close()
		c.c, c.r = nil, nil
	}
}

// Fetch returns the next messages of the queue, at most Batch of them,
// waiting up to Wait for one when there are none (then it returns none
// and a nil error). It retries failed connections with backoff until ctx
// ends, and then returns ctx's error.
func (c *Consumer) Fetch(ctx context.Context) ([]Message, error) {
	return c.do(ctx, c.cfg.Batch, c.cfg.Wait)
}

// Commit sends the acknowledgements now, retrying until the broker has
// them or ctx ends.
func (c *Consumer) Commit(ctx context.Context) error {
	_, err := c.do(ctx, 0, 0)
	return err
}

func (c *Consumer) do(ctx context.Context, max int, wait time.Duration) ([]Message, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.ctx, cancel)()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return nil, fmt.Errorf("backpressure: consumer closed: %w", net.ErrClosed)
	}
	c.bo.reset()
	for {
		msgs, err := c.attempt(ctx, max, wait)
		if err == nil {
			if len(msgs) > 0 {
				c.pos = msgs[len(msgs)-1].Offset + 1
			}
			return msgs, nil
		}
		if !sleep(ctx, c.bo.next()) {
			return nil, fmt.Errorf("backpressure: fetch at offset %d: %w (last error %v)", c.pos, ctx.Err(), err)
		}
	}
}

// attempt sends one FETCH, dialing first if needed.
func (c *Consumer) attempt(ctx context.Context, max int, wait time.Duration) ([]Message, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout+wait)
	defer cancel()
	if c.c == nil {
		conn, err := c.cfg.Dial(actx, "tcp", c.cfg.Addr)
		if err != nil {
			return nil, err
		}
		c.c, c.r = conn, bufio.NewReader(conn)
	}
	stop := guard(actx, c.c)
	msgs, err := c.fetch(max, wait)
	if !stop() || err != nil {
		c.drop()
	}
	return msgs, err
}

func (c *Consumer) fetch(max int, wait time.Duration) ([]Message, error) {
	buf := frame(c.wbuf, tFetch)
	buf = binary.BigEndian.AppendUint64(buf, min(c.commit.Load(), c.pos))
	buf = binary.BigEndian.AppendUint64(buf, c.pos)
	buf = binary.BigEndian.AppendUint32(buf, uint32(max))
	buf = binary.BigEndian.AppendUint32(buf, uint32(c.cfg.MaxMessage))
	buf = binary.BigEndian.AppendUint64(buf, uint64(wait))
	c.wbuf = finish(buf)
	if _, err := c.c.Write(c.wbuf); err != nil {
		return nil, err
	}
	limit := int64(lenMessagesHd + max*lenMsgHdr + c.cfg.MaxMessage)
	typ, body, err := readReply(c.r, limit)
	if err != nil {
		return nil, err
	}
	if typ != tMessages {
		return nil, replyErr(typ, body)
	}
	return parseMessages(body, c.pos, max)
}

// parseMessages decodes a MESSAGES body. The payloads share the body.
func parseMessages(body []byte, pos uint64, max int) ([]Message, error) {
	if len(body) < lenMessagesHd-1 {
		return nil, protocolErr("MESSAGES reply of %d bytes", len(body))
	}
	count := int(binary.BigEndian.Uint32(body[8:]))
	if count > max {
		return nil, protocolErr("%d messages in a reply, asked for at most %d", count, max)
	}
	body = body[12:]
	msgs := make([]Message, 0, count)
	for range count {
		if len(body) < lenMsgHdr {
			return nil, protocolErr("MESSAGES reply cut short")
		}
		m := Message{
			Offset:   binary.BigEndian.Uint64(body),
			Producer: binary.BigEndian.Uint64(body[8:]),
			Seq:      binary.BigEndian.Uint64(body[16:]),
		}
		n := int(binary.BigEndian.Uint32(body[24:]))
		body = body[lenMsgHdr:]
		if len(body) < n {
			return nil, protocolErr("MESSAGES reply cut short")
		}
		if m.Offset < pos {
			return nil, protocolErr("message at offset %d, before position %d", m.Offset, pos)
		}
		m.Payload, body, pos = body[:n:n], body[n:], m.Offset+1
		msgs = append(msgs, m)
	}
	if len(body) != 0 {
		return nil, protocolErr("%d bytes after the messages", len(body))
	}
	return msgs, nil
}
