package backpressure_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/examples/backpressure"
	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// newProducer returns a producer with id on host, for the broker of
// startBroker.
func newProducer(t *testing.T, n *netsim.Network, host string, id uint64, deadline time.Duration) *backpressure.Producer {
	t.Helper()
	p, err := backpressure.NewProducer(backpressure.ProducerConfig{ID: id, Addr: "broker:9092", Dial: n.Host(host).DialContext, Seed: id, Deadline: deadline})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

// fetchN fetches until it has want messages, acknowledging them.
func fetchN(t *testing.T, c *backpressure.Consumer, want int) []backpressure.Message {
	t.Helper()
	var got []backpressure.Message
	for len(got) < want {
		msgs, err := c.Fetch(context.Background())
		require.NoError(t, err)
		require.NotEmpty(t, msgs, "the queue ran dry after %d of %d messages", len(got), want)
		for _, m := range msgs {
			c.Ack(m)
		}
		got = append(got, msgs...)
	}
	require.NoError(t, c.Commit(context.Background()))
	return got
}

// TestMaxMessageSize: a message of 1 MiB + 1 byte is refused with an
// explicit TOO_LARGE on the same connection, which survives it; a message
// of exactly 1 MiB and the next small one go through and are delivered,
// at offsets 0 and 1.
func TestMaxMessageSize(t *testing.T) {
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		b := startBroker(t, n, backpressure.Config{})
		defer b.Close()
		require.Equal(t, 1<<20, b.Config().MaxMessage)
		p := newProducer(t, n, "producer", 1, time.Second)
		ctx := context.Background()

		err := p.Send(ctx, 1, make([]byte, backpressure.DefaultMaxMessage+1))
		require.ErrorIs(t, err, backpressure.ErrRejected)
		require.ErrorIs(t, err, backpressure.ErrTooLarge)
		var rej *backpressure.RejectedError
		require.ErrorAs(t, err, &rej)
		require.Equal(t, "1/1", rej.Key)
		require.Equal(t, 1, rej.Attempts, "a message too large is not retried")

		largest := bytes.Repeat([]byte("0123456789abcdef"), backpressure.DefaultMaxMessage/16)
		require.NoError(t, p.Send(ctx, 2, largest))
		require.NoError(t, p.Send(ctx, 3, []byte("next")))

		ps := p.Stats()
		require.Equal(t, backpressure.ProducerStats{Accepted: 2, Rejected: 1, Attempts: 3, Conns: 1}, ps, "the connection must survive")
		bs := b.Stats()
		require.Equal(t, uint64(1), bs.TooLarge)
		require.Equal(t, uint64(2), bs.Accepted)
		require.Equal(t, uint64(1), bs.Conns)
		require.Equal(t, 1, bs.Open)
		require.Equal(t, int64(len(largest)+4), bs.QueuedBytes)

		c, err := backpressure.NewConsumer(backpressure.ConsumerConfig{Addr: "broker:9092", Dial: n.Host("consumer").DialContext})
		require.NoError(t, err)
		defer c.Close()
		got := fetchN(t, c, 2)
		require.Len(t, got, 2)
		require.Equal(t, backpressure.Message{Offset: 0, Producer: 1, Seq: 2, Payload: largest}, got[0])
		require.Equal(t, backpressure.Message{Offset: 1, Producer: 1, Seq: 3, Payload: []byte("next")}, got[1])
		require.Equal(t, 0, b.Stats().Queued)
	})
}

// TestOversizedMessageIsNotBuffered: the broker decides on a message from
// its header and skips a too large one as it arrives. A 32 MiB message,
// streamed at 16 MiB/s, must not raise the heap by anything near 32 MiB
// at any sample of the two seconds it takes.
func TestOversizedMessageIsNotBuffered(t *testing.T) {
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		b := startBroker(t, n, backpressure.Config{})
		defer b.Close()
		require.NoError(t, n.SetLink("producer", "broker", faultconn.Profile{Bandwidth: 16 << 20}))
		p, err := backpressure.NewProducer(backpressure.ProducerConfig{ID: 1, Addr: "broker:9092", Dial: n.Host("producer").DialContext, Timeout: time.Minute})
		require.NoError(t, err)
		defer p.Close()
		huge := make([]byte, 32<<20)

		base := harness.StartSampler(time.Hour).Stop()
		s := harness.StartSampler(50 * time.Millisecond)
		err = p.Send(context.Background(), 1, huge)
		u := s.Stop()
		require.ErrorIs(t, err, backpressure.ErrTooLarge)
		require.Greater(t, u.Samples, 30, "sampled while the message streamed")
		grew := int64(u.Heap) - int64(base.Heap)
		t.Logf("heap grew by %d KiB while a 32 MiB message was refused (%v)", grew>>10, u)
		require.Less(t, grew, int64(4<<20), "the broker buffered the message it refused")

		require.NoError(t, p.Send(context.Background(), 2, []byte("small")))
		require.Equal(t, uint64(1), b.Stats().TooLarge)
		require.Equal(t, uint64(1), p.Stats().Conns)
	})
}

// TestFullQueueSaysRetryLater: with room for two messages and no
// consumer, the third is refused until its producer's deadline and then
// rejected explicitly; once the consumer acknowledges one, the next is
// queued.
func TestFullQueueSaysRetryLater(t *testing.T) {
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		b := startBroker(t, n, backpressure.Config{QueueMessages: 2})
		defer b.Close()
		p := newProducer(t, n, "producer", 1, time.Second)
		ctx := context.Background()
		require.NoError(t, p.Send(ctx, 1, []byte("a")))
		require.NoError(t, p.Send(ctx, 2, []byte("b")))

		err := p.Send(ctx, 3, []byte("c"))
		require.ErrorIs(t, err, backpressure.ErrRejected)
		require.ErrorIs(t, err, backpressure.ErrFull)
		var rej *backpressure.RejectedError
		require.ErrorAs(t, err, &rej)
		require.Greater(t, rej.Attempts, 3, "backed off and retried")
		require.LessOrEqual(t, rej.Waited, time.Second, "gave up by its deadline")
		require.Regexp(t, `^backpressure: message 1/3 rejected after \d+ attempts in .+: queue full$`, err.Error())
		require.Equal(t, uint64(rej.Attempts), b.Stats().Refused)
		require.Equal(t, 2, b.Stats().Queued, "nothing buffered beyond the limit")

		c, err := backpressure.NewConsumer(backpressure.ConsumerConfig{Addr: "broker:9092", Dial: n.Host("consumer").DialContext, Batch: 1})
		require.NoError(t, err)
		defer c.Close()
		fetchN(t, c, 1)
		require.NoError(t, p.Send(ctx, 4, []byte("d")))
		got := fetchN(t, c, 2)
		require.Equal(t, []string{"1/2", "1/4"}, []string{got[0].Key(), got[1].Key()})
	})
}

// The wire protocol, as package backpressure documents it, for the tests
// that speak it directly.
const (
	tHello     = 0x01
	tProduce   = 0x02
	tWelcome   = 0x81
	tAccepted  = 0x82
	tDuplicate = 0x83
	tFenced    = 0x86
	tStale     = 0x87
)

type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func rawDial(t *testing.T, n *netsim.Network, host string) *rawConn {
	t.Helper()
	c, err := n.Host(host).Dial("tcp", "broker:9092")
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawConn{c, bufio.NewReader(c)}
}

func (c *rawConn) send(typ byte, body ...[]byte) error {
	buf := []byte{0, 0, 0, 0, typ}
	for _, b := range body {
		buf = append(buf, b...)
	}
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	_, err := c.Write(buf)
	return err
}

func (c *rawConn) reply() (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return 0, nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(h[:4])-1)
	_, err := io.ReadFull(c.r, body)
	return h[4], body, err
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// roundTrip sends a request and returns the reply's type and, for
// replies about a message, its sequence number.
func (c *rawConn) roundTrip(t *testing.T, typ byte, body ...[]byte) (byte, uint64) {
	t.Helper()
	require.NoError(t, c.send(typ, body...))
	rt, rb, err := c.reply()
	require.NoError(t, err)
	if len(rb) == 8 {
		return rt, binary.BigEndian.Uint64(rb)
	}
	return rt, 0
}

// TestStaleConnectionIsFenced: a producer's new connection (a higher
// epoch) fences its old one, so that a retry stuck in the old connection
// can never be queued after the producer heard "no" on the new one: the
// broker closes the old connection, and a message whose payload was
// still arriving on it is dropped, not queued. Retries of a queued
// message are duplicates, older sequence numbers stale, and an old epoch
// is refused.
func TestStaleConnectionIsFenced(t *testing.T) {
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		b := startBroker(t, n, backpressure.Config{})
		defer b.Close()
		old := rawDial(t, n, "producer")
		typ, _ := old.roundTrip(t, tHello, u64(7), u64(1))
		require.Equal(t, byte(tWelcome), typ)
		// A PRODUCE of 100 bytes, of which 50 have arrived.
		hdr := []byte{0, 0, 0, 0, tProduce}
		binary.BigEndian.PutUint32(hdr, 1+8+100)
		hdr = append(append(hdr, u64(1)...), make([]byte, 50)...)
		_, err := old.Write(hdr)
		require.NoError(t, err)
		time.Sleep(time.Millisecond)

		newer := rawDial(t, n, "producer")
		typ, _ = newer.roundTrip(t, tHello, u64(7), u64(2))
		require.Equal(t, byte(tWelcome), typ)
		old.Write(make([]byte, 50)) // the rest of the stale message
		_, _, err = old.reply()
		require.Error(t, err, "the fenced connection got a reply")
		require.Equal(t, 0, b.Stats().Queued, "the stale message was queued")

		typ, seq := newer.roundTrip(t, tProduce, u64(1), []byte("fresh"))
		require.Equal(t, [2]any{byte(tAccepted), uint64(1)}, [2]any{typ, seq})
		typ, seq = newer.roundTrip(t, tProduce, u64(1), []byte("fresh"))
		require.Equal(t, [2]any{byte(tDuplicate), uint64(1)}, [2]any{typ, seq})
		typ, seq = newer.roundTrip(t, tProduce, u64(0), []byte("older"))
		require.Equal(t, [2]any{byte(tStale), uint64(0)}, [2]any{typ, seq})

		third := rawDial(t, n, "other")
		typ, _ = third.roundTrip(t, tHello, u64(7), u64(2))
		require.Equal(t, byte(tFenced), typ, "an epoch not above the newest is fenced")
		_, _, err = third.reply()
		require.ErrorIs(t, err, io.EOF, "and its connection closed")

		s := b.Stats()
		require.Equal(t, [5]uint64{1, 1, 1, 1, 0}, [5]uint64{s.Accepted, s.Duplicates, s.Stale, s.Fenced, s.Refused})
		require.Equal(t, 1, s.Queued)
	})
}

// TestConfigErrors: a bad config is one error naming every bad field, its
// value and the valid range.
func TestConfigErrors(t *testing.T) {
	_, err := backpressure.New(backpressure.Config{MaxMessage: -1, QueueMessages: -2, IdleTimeout: -time.Second})
	require.Error(t, err)
	for _, want := range []string{
		"backpressure: Config.MaxMessage -1 out of range [0,1073741824]",
		"backpressure: Config.QueueMessages -2 out of range [0,∞)",
		"backpressure: Config.IdleTimeout -1s out of range [0,∞)",
	} {
		require.Contains(t, err.Error(), want)
	}
	_, err = backpressure.New(backpressure.Config{QueueBytes: 10})
	require.ErrorContains(t, err, "backpressure: Config.QueueBytes 10 out of range [MaxMessage=1048576,∞)")
	_, err = backpressure.NewProducer(backpressure.ProducerConfig{Deadline: -1, MinBackoff: time.Second, MaxBackoff: time.Millisecond})
	require.Error(t, err)
	for _, want := range []string{
		"backpressure: ProducerConfig.Addr is empty",
		"backpressure: ProducerConfig.Deadline -1ns out of range [0,∞)",
		"backpressure: ProducerConfig.MaxBackoff 1ms out of range [MinBackoff=1s,∞)",
	} {
		require.Contains(t, err.Error(), want)
	}
	_, err = backpressure.NewConsumer(backpressure.ConsumerConfig{Addr: "b:1", Batch: 5000})
	require.ErrorContains(t, err, "backpressure: ConsumerConfig.Batch 5000 out of range [0,1024]")
	require.False(t, errors.Is(err, backpressure.ErrRejected))
}
