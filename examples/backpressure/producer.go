package backpressure

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultDeadline is how long a Producer retries a message the broker
// refuses, when ProducerConfig.Deadline is zero.
const DefaultDeadline = 10 * time.Second

var (
	// ErrRejected matches every *RejectedError: the broker said no, and
	// the message was not queued and never will be.
	ErrRejected = errors.New("backpressure: message rejected")
	// ErrFull is the reason of a message the broker kept refusing
	// because its queue was full, until the producer's deadline.
	ErrFull = errors.New("backpressure: queue full")
	// ErrTooLarge is the reason of a message over the broker's
	// MaxMessage.
	ErrTooLarge = errors.New("backpressure: message too large")
	// ErrOutcomeUnknown is returned when Send had to stop (its context
	// ended, or the producer was closed) while the broker may have
	// queued the message: a reply was lost. Send the same sequence
	// number again to learn the outcome; it is never queued twice.
	ErrOutcomeUnknown = errors.New("backpressure: outcome unknown")
	// ErrFenced is returned when the broker knows a newer connection of
	// the same producer ID: another Producer uses the ID.
	ErrFenced = errors.New("backpressure: producer fenced by a newer one with the same ID")
	// ErrStaleSeq is returned for a sequence number not above the last
	// one the producer sent (except a repeat after ErrOutcomeUnknown).
	ErrStaleSeq = errors.New("backpressure: sequence number not above the last one")
	// errBusy is a broker at its connection or producer limit.
	errBusy = errors.New("backpressure: broker busy")
)

// RejectedError reports a message the broker explicitly refused. It
// matches ErrRejected and its Reason (ErrFull or ErrTooLarge) with
// errors.Is.
type RejectedError struct {
	Key      string        // the message's idempotency key, Key(producer, seq)
	Reason   error         // ErrFull or ErrTooLarge
	Attempts int           // PRODUCE requests sent for it
	Waited   time.Duration // from the first attempt to the verdict
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("backpressure: message %s rejected after %d attempts in %v: %s",
		e.Key, e.Attempts, e.Waited, strings.TrimPrefix(e.Reason.Error(), "backpressure: "))
}

// Unwrap returns ErrRejected and the reason.
func (e *RejectedError) Unwrap() []error { return []error{ErrRejected, e.Reason} }

// Key returns the idempotency key of a producer's message: "producer/seq".
func Key(producer, seq uint64) string {
	return strconv.FormatUint(producer, 10) + "/" + strconv.FormatUint(seq, 10)
}

// Dialer dials the broker; netsim's Host.DialContext and
// net.Dialer.DialContext are Dialers.
type Dialer func(ctx context.Context, network, address string) (net.Conn, error)

// ProducerConfig configures a Producer. Only Addr is required.
type ProducerConfig struct {
	// ID identifies the producer to the broker, which deduplicates its
	// retries by (ID, sequence number). One Producer value uses an ID for
	// the broker's whole life; a second one with the same ID is fenced.
	// Zero is an ID like any other.
	ID uint64
	// Addr is the broker's address, "host:port".
	Addr string
	// Dial dials the broker. Nil means a net.Dialer's DialContext.
	Dial Dialer
	// Seed seeds the producer's own random source, which jitters its
	// backoff. Zero is a seed like any other.
	Seed uint64
	// Deadline is how long Send keeps retrying a message the broker
	// refuses because its queue is full, from the first attempt; then
	// the message is rejected with ErrFull. Zero means DefaultDeadline.
	// Failures of the connection are retried past it, until Send's
	// context ends: the producer does not give up on a message whose
	// fate it does not know.
	Deadline time.Duration
	// MinBackoff and MaxBackoff bound the exponential, jittered backoff
	// between attempts. Zero means DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one attempt: dial, request and reply. Zero means
	// DefaultTimeout.
	Timeout time.Duration
}

func (c *ProducerConfig) fill() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("backpressure: ProducerConfig.Addr is empty; want the broker's host:port"))
	}
	if c.Dial == nil {
		c.Dial = (&net.Dialer{}).DialContext
	}
	errs = append(errs, fillRetry("ProducerConfig", &c.MinBackoff, &c.MaxBackoff, &c.Timeout))
	if c.Deadline < 0 {
		errs = append(errs, fmt.Errorf("backpressure: ProducerConfig.Deadline %v out of range [0,∞) (0 means %v)", c.Deadline, DefaultDeadline))
	} else if c.Deadline == 0 {
		c.Deadline = DefaultDeadline
	}
	return errors.Join(errs...)
}

func fillRetry(name string, minB, maxB, timeout *time.Duration) error {
	var errs []error
	for _, f := range []struct {
		field string
		v     *time.Duration
		def   time.Duration
	}{{"MinBackoff", minB, DefaultMinBackoff}, {"MaxBackoff", maxB, DefaultMaxBackoff}, {"Timeout", timeout, DefaultTimeout}} {
		if *f.v < 0 {
			errs = append(errs, fmt.Errorf("backpressure: %s.%s %v out of range [0,∞) (0 means %v)", name, f.field, *f.v, f.def))
		} else if *f.v == 0 {
			*f.v = f.def
		}
	}
	if *maxB < *minB {
		errs = append(errs, fmt.Errorf("backpressure: %s.MaxBackoff %v out of range [MinBackoff=%v,∞)", name, *maxB, *minB))
	}
	return errors.Join(errs...)
}

// ProducerStats counts what a Producer did.
type ProducerStats struct {
	Accepted uint64 // messages the broker queued
	Rejected uint64 // messages it refused (RejectedError)
	Attempts uint64 // PRODUCE requests sent
	Refused  uint64 // "retry later" replies
	Errors   uint64 // attempts that failed on the connection
	Conns    uint64 // connections dialed
}

// Producer sends messages to a broker, one at a time, each with a
// sequence number that makes its retries idempotent. On "retry later" it
// backs off (exponentially, jittered) and retries until its Deadline, then
// reports the message rejected; on a broken connection it reconnects and
// asks again, so every Send ends with a verdict: queued, or explicitly
// rejected (or ErrOutcomeUnknown if the caller's context ends first).
//
// A Producer is safe for concurrent use; Sends run one at a time, in the
// order they take its lock.
type Producer struct {
	cfg    ProducerConfig
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu      sync.Mutex // held by Send throughout; guards the fields below
	c       net.Conn   // nil until dialed, and after a failure
	r       *bufio.Reader
	wbuf    []byte
	epoch   uint64 // of c; each connection has a new one
	bo      backoff
	last    uint64 // the last sequence number sent
	sent    bool   // last is set
	unknown bool   // last's outcome is unknown
	stats   ProducerStats
}

// NewProducer returns a producer for cfg, or an error naming every
// invalid field. It does not dial until the first Send.
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Producer{
		cfg: cfg, ctx: ctx, cancel: cancel,
		bo: backoff{min: cfg.MinBackoff, max: cfg.MaxBackoff, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.ID))},
	}, nil
}

// Stats returns the producer's counters. It waits for a Send in progress.
func (p *Producer) Stats() ProducerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close makes a Send in progress return (with ErrOutcomeUnknown or a
// rejection) and closes the connection. Later Sends fail with
// net.ErrClosed. Close is idempotent.
func (p *Producer) Close() error {
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop()
	return nil
}

// Send sends payload as message seq and blocks until the broker queued
// it (nil), explicitly refused it (a *RejectedError, matching ErrRejected
// and ErrFull or ErrTooLarge), or ctx ended while its fate was unknown
// (ErrOutcomeUnknown). Sequence numbers must increase from one Send to the
// next; repeating one is allowed only after ErrOutcomeUnknown. A message
// is queued at most once however often it is retried.
func (p *Producer) Send(ctx context.Context, seq uint64, payload []byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(p.ctx, cancel)()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return fmt.Errorf("backpressure: producer %d closed: %w", p.cfg.ID, net.ErrClosed)
	}
	if p.sent && (seq < p.last || seq == p.last && !p.unknown) {
		return fmt.Errorf("%w: %d after %d", ErrStaleSeq, seq, p.last)
	}
	if int64(len(payload)) > math.MaxUint32-lenProduceHdr { // cannot be framed
		p.stats.Rejected++
		return &RejectedError{Key: Key(p.cfg.ID, seq), Reason: ErrTooLarge}
	}
	p.last, p.sent, p.unknown = seq, true, true
	start := time.Now()
	p.bo.reset()
	var lastErr error
	for attempt := 1; ; attempt++ {
		verdict, err := p.attempt(ctx, seq, payload)
		reject := func(reason error) error {
			p.unknown = false
			p.stats.Rejected++
			return &RejectedError{Key: Key(p.cfg.ID, seq), Reason: reason, Attempts: attempt, Waited: time.Since(start)}
		}
		switch {
		case errors.Is(err, ErrFenced):
			return fmt.Errorf("backpressure: message %s: %w", Key(p.cfg.ID, seq), err)
		case err != nil:
			p.stats.Errors++
			lastErr = err
		case verdict == tAccepted || verdict == tDuplicate:
			p.unknown = false
			p.stats.Accepted++
			return nil
		case verdict == tTooLarge:
			return reject(ErrTooLarge)
		case verdict == tStale:
			p.unknown = false
			return fmt.Errorf("%w: the broker accepted a later one of producer %d than %d", ErrStaleSeq, p.cfg.ID, seq)
		case verdict == tRetry:
			p.stats.Refused++
		}
		refused := err == nil && verdict == tRetry
		wait := p.bo.next()
		if refused && !time.Now().Add(wait).Before(start.Add(p.cfg.Deadline)) {
			return reject(ErrFull)
		}
		if !sleep(ctx, wait) {
			if refused {
				return reject(ErrFull)
			}
			return fmt.Errorf("%w: message %s, %d attempts, last error %v: %w", ErrOutcomeUnknown, Key(p.cfg.ID, seq), attempt, lastErr, ctx.Err())
		}
	}
}

// attempt sends one PRODUCE, dialing first if needed, and returns the
// broker's verdict, or the error that left the outcome unknown.
func (p *Producer) attempt(ctx context.Context, seq uint64, payload []byte) (byte, error) {
	actx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	if p.c == nil {
		if err := p.connect(actx); err != nil {
			return 0, err
		}
	}
	stop := guard(actx, p.c)
	p.stats.Attempts++
	verdict, err := p.produce(seq, payload)
	if !stop() || err != nil {
		p.drop() // its deadline was cut, or it failed: never reuse it
	}
	return verdict, err
}

func (p *Producer) drop() {
	if p.c != nil {
		p.c.Close()
		p.c, p.r = nil, nil
	}
}

// connect dials and says HELLO with a new epoch, which fences every older
// connection of this producer at the broker.
func (p *Producer) connect(ctx context.Context) error {
	c, err := p.cfg.Dial(ctx, "tcp", p.cfg.Addr)
	if err != nil {
		return err
	}
	p.stats.Conns++
	p.epoch++
	stop := guard(ctx, c)
	r := bufio.NewReader(c)
	buf := binary.BigEndian.AppendUint64(frame(p.wbuf, tHello), p.cfg.ID)
	p.wbuf = finish(binary.BigEndian.AppendUint64(buf, p.epoch))
	typ, body, err := p.roundTrip(c, r, p.wbuf)
	if err == nil {
		switch typ {
		case tWelcome:
		case tBusy:
			err = errBusy
		case tFenced:
			err = ErrFenced
		default:
			err = replyErr(typ, body)
		}
	}
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		c.Close()
		return err
	}
	p.c, p.r = c, r
	return nil
}

func (p *Producer) roundTrip(c net.Conn, r *bufio.Reader, req []byte) (byte, []byte, error) {
	if _, err := c.Write(req); err != nil {
		return 0, nil, err
	}
	return readReply(r, maxControl)
}

// produce writes one PRODUCE frame and reads its reply. A small payload
// goes out in the same write as its header; a large one is written as it
// is, not copied.
func (p *Producer) produce(seq uint64, payload []byte) (byte, error) {
	hdr := binary.BigEndian.AppendUint64(frame(p.wbuf, tProduce), seq)
	binary.BigEndian.PutUint32(hdr, uint32(len(hdr)-4+len(payload)))
	var err error
	if len(payload) <= 64<<10 {
		p.wbuf = append(hdr, payload...)
		_, err = p.c.Write(p.wbuf)
	} else {
		p.wbuf = hdr
		bufs := net.Buffers{hdr, payload}
		_, err = bufs.WriteTo(p.c)
	}
	if err != nil {
		return 0, err
	}
	typ, body, err := readReply(p.r, maxControl)
	if err != nil {
		return 0, err
	}
	switch typ {
	case tAccepted, tDuplicate, tRetry, tTooLarge, tStale, tFenced:
		if len(body) != 8 || binary.BigEndian.Uint64(body) != seq {
			return 0, protocolErr("reply %#x for another message than %d", typ, seq)
		}
		if typ == tFenced {
			return 0, ErrFenced
		}
		return typ, nil
	}
	return 0, replyErr(typ, body)
}

// replyErr is the error of an unexpected reply.
func replyErr(typ byte, body []byte) error {
	switch typ {
	case tBusy:
		return errBusy
	case tError:
		return fmt.Errorf("backpressure: broker: %s", body)
	}
	return protocolErr("unexpected reply type %#x", typ)
}
