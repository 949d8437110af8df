package backpressure

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Broker is a message broker with one queue, explicit limits and
// backpressure: it serves producers and consumers over any net.Listener,
// and when the queue is full it tells producers "no, retry later" instead
// of buffering. New returns one; Serve serves a listener; Close stops it.
// A Broker is safe for concurrent use.
type Broker struct {
	cfg  Config
	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu        sync.Mutex // guards the fields below and the state of every producer
	closed    bool
	q         queue
	notify    chan struct{} // closed and replaced whenever a message is queued
	producers map[uint64]*producer
	lns       map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	stats     Stats
}

// producer is what the broker remembers of a producer ID: its newest epoch
// (the connection that speaks for it) and the last sequence number it
// accepted from it.
type producer struct {
	epoch uint64
	last  uint64
	has   bool     // last is set
	conn  net.Conn // the connection of epoch, if open
}

// New returns a broker with the limits of cfg, or an error naming every
// invalid field.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Broker{
		cfg:       cfg,
		done:      make(chan struct{}),
		q:         queue{maxMsgs: cfg.QueueMessages, maxBytes: cfg.QueueBytes, bounded: !cfg.Unbounded},
		notify:    make(chan struct{}),
		producers: make(map[uint64]*producer),
		lns:       make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
	}, nil
}

// Config returns the broker's configuration, defaults filled in.
func (b *Broker) Config() Config { return b.cfg }

// Stats returns the broker's counters and the queue's current size.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.Queued, s.QueuedBytes, s.Open = b.q.len(), b.q.bytes, len(b.conns)
	return s
}

// Serve accepts connections on ln and serves each in its own goroutine,
// at most MaxConns at once. It blocks until Close, which closes ln, and
// then returns ErrBrokerClosed; it returns other Accept errors as they
// are.
func (b *Broker) Serve(ln net.Listener) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		ln.Close()
		return ErrBrokerClosed
	}
	b.lns[ln] = struct{}{}
	b.wg.Add(1)
	b.mu.Unlock()
	defer b.wg.Done()
	defer func() {
		b.mu.Lock()
		delete(b.lns, ln)
		b.mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		b.mu.Lock()
		closed := b.closed
		b.mu.Unlock()
		if closed {
			if c != nil {
				c.Close()
			}
			return ErrBrokerClosed
		}
		if err != nil {
			return err
		}
		b.mu.Lock()
		if len(b.conns) >= b.cfg.MaxConns {
			b.stats.Busy++
			b.mu.Unlock()
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write(finish(frame(nil, tBusy)))
			c.Close()
			continue
		}
		b.conns[c] = struct{}{}
		b.stats.Conns++
		b.wg.Add(1)
		b.mu.Unlock()
		go b.handle(c)
	}
}

// Close stops the broker: it closes its listeners and connections, wakes
// every waiting FETCH, and waits until Serve and every connection's
// goroutine have returned. Queued messages are dropped. Close is
// idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.done)
		for ln := range b.lns {
			ln.Close()
		}
		for c := range b.conns {
			c.Close()
		}
	}
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

// session is one connection's state; only its goroutine uses it.
type session struct {
	b     *Broker
	c     net.Conn
	r     *bufio.Reader
	p     *producer // after HELLO
	id    uint64    // the producer's ID
	epoch uint64    // the epoch this connection speaks for
	wbuf  []byte
	wdl   lazyDeadline
}

// errFenced closes a connection that a newer one of its producer replaced.
var errFenced = errors.New("backpressure: connection fenced by a newer one of its producer")

func (b *Broker) handle(c net.Conn) {
	defer b.wg.Done()
	s := &session{b: b, c: c, wdl: lazyDeadline{d: b.cfg.WriteTimeout}, r: bufio.NewReader(&idleReader{c: c, dl: lazyDeadline{d: b.cfg.IdleTimeout}})}
	err := s.serve()
	if errors.Is(err, errProtocol) {
		s.write(finish(append(frame(s.wbuf, tError), err.Error()...)))
	}
	c.Close()
	b.mu.Lock()
	delete(b.conns, c)
	if s.p != nil && s.p.conn == c {
		s.p.conn = nil
	}
	b.mu.Unlock()
}

// serve reads and answers requests until the connection fails.
func (s *session) serve() error {
	for {
		typ, body, err := readHeader(s.r)
		if err != nil {
			return err
		}
		switch typ {
		case tHello:
			err = s.hello(body)
		case tProduce:
			err = s.produce(body)
		case tFetch:
			err = s.fetch(body)
		default:
			err = protocolErr("unknown request type %#x", typ)
		}
		if err != nil {
			return err
		}
	}
}

func (s *session) write(buf []byte) error {
	s.wbuf = buf
	s.wdl.arm(s.c.SetWriteDeadline)
	_, err := s.c.Write(buf)
	return err
}

func (s *session) readBody(n int64, want int) ([]byte, error) {
	if n != int64(want) {
		return nil, protocolErr("request body of %d bytes, want %d", n, want)
	}
	buf := make([]byte, want)
	_, err := io.ReadFull(s.r, buf)
	return buf, noEOF(err)
}

// hello binds the connection to a producer ID and a new epoch, fencing
// the producer's older connections: from now on only this one may queue
// its messages, so that a retry that was stuck in an old connection can
// never be queued after the producer was told "no" on a new one.
func (s *session) hello(n int64) error {
	if s.p != nil {
		return protocolErr("second HELLO on one connection")
	}
	body, err := s.readBody(n, lenHello-1)
	if err != nil {
		return err
	}
	id, epoch := binary.BigEndian.Uint64(body), binary.BigEndian.Uint64(body[8:])
	b := s.b
	b.mu.Lock()
	p := b.producers[id]
	if p == nil {
		if len(b.producers) >= b.cfg.MaxProducers {
			b.stats.Busy++
			b.mu.Unlock()
			s.write(finish(frame(s.wbuf, tBusy)))
			return errors.New("backpressure: too many producers")
		}
		p = &producer{}
		b.producers[id] = p
	}
	if epoch <= p.epoch {
		b.stats.Fenced++
		b.mu.Unlock()
		s.write(seqFrame(s.wbuf, tFenced, 0))
		return errFenced
	}
	old := p.conn
	p.epoch, p.conn = epoch, s.c
	s.p, s.id, s.epoch = p, id, epoch
	b.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return s.write(finish(frame(s.wbuf, tWelcome)))
}

// produce decides on a message from its header alone — fenced, duplicate,
// stale, too large, no room — and skips the payload unread unless the
// message is to be queued, in which case room for it is reserved first.
func (s *session) produce(n int64) error {
	if s.p == nil {
		return protocolErr("PRODUCE before HELLO")
	}
	if n < lenProduceHdr-1 {
		return protocolErr("PRODUCE body of %d bytes, want at least 8", n)
	}
	var h [8]byte
	if _, err := io.ReadFull(s.r, h[:]); err != nil {
		return noEOF(err)
	}
	seq, size := binary.BigEndian.Uint64(h[:]), n-8
	b := s.b
	b.mu.Lock()
	var verdict byte
	switch {
	case s.p.epoch != s.epoch:
		verdict = tFenced
		b.stats.Fenced++
	case s.p.has && seq == s.p.last:
		verdict = tDuplicate
		b.stats.Duplicates++
	case s.p.has && seq < s.p.last:
		verdict = tStale
		b.stats.Stale++
	case size > int64(b.cfg.MaxMessage):
		verdict = tTooLarge
		b.stats.TooLarge++
	case !b.q.reserve(size):
		verdict = tRetry
		b.stats.Refused++
	}
	b.mu.Unlock()
	if verdict != 0 {
		if _, err := io.CopyN(io.Discard, s.r, size); err != nil {
			return noEOF(err)
		}
		if err := s.write(seqFrame(s.wbuf, verdict, seq)); err != nil || verdict != tFenced {
			return err
		}
		return errFenced
	}
	payload := make([]byte, size)
	if _, err := io.ReadFull(s.r, payload); err != nil {
		b.mu.Lock()
		b.q.release(size)
		b.mu.Unlock()
		return noEOF(err)
	}
	b.mu.Lock()
	if s.p.epoch != s.epoch { // fenced while the payload arrived
		b.q.release(size)
		b.stats.Fenced++
		b.mu.Unlock()
		s.write(seqFrame(s.wbuf, tFenced, seq))
		return errFenced
	}
	b.q.push(Message{Producer: s.id, Seq: seq, Payload: payload})
	s.p.last, s.p.has = seq, true
	b.stats.Accepted++
	close(b.notify)
	b.notify = make(chan struct{})
	b.mu.Unlock()
	return s.write(seqFrame(s.wbuf, tAccepted, seq))
}

// fetch acknowledges everything before commit, then answers with the
// messages from position on, waiting for one up to the requested time
// when there are none.
func (s *session) fetch(n int64) error {
	body, err := s.readBody(n, lenFetch-1)
	if err != nil {
		return err
	}
	commit := binary.BigEndian.Uint64(body)
	pos := binary.BigEndian.Uint64(body[8:])
	maxMsgs := min(int(binary.BigEndian.Uint32(body[16:])), MaxFetchMessages)
	maxBytes := int64(binary.BigEndian.Uint32(body[20:]))
	if maxBytes == 0 || maxBytes > int64(s.b.cfg.MaxMessage) {
		maxBytes = int64(s.b.cfg.MaxMessage)
	}
	wait := min(max(time.Duration(binary.BigEndian.Uint64(body[24:])), 0), MaxFetchWait)

	b := s.b
	b.mu.Lock()
	if end := b.q.end(); commit > end || pos > end {
		b.mu.Unlock()
		return protocolErr("FETCH commit %d, position %d past the end of the queue, %d", commit, pos, end)
	}
	b.stats.Delivered += uint64(b.q.ack(commit))
	msgs := b.q.read(pos, maxMsgs, maxBytes)
	notify := b.notify
	b.mu.Unlock()
	if len(msgs) == 0 && maxMsgs > 0 && wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-notify:
		case <-t.C:
		case <-b.done:
		}
		t.Stop()
		b.mu.Lock()
		msgs = b.q.read(pos, maxMsgs, maxBytes)
		b.mu.Unlock()
	}
	b.mu.Lock()
	end := b.q.end()
	b.mu.Unlock()
	buf := binary.BigEndian.AppendUint64(frame(s.wbuf, tMessages), end)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(msgs)))
	for _, m := range msgs {
		buf = binary.BigEndian.AppendUint64(buf, m.Offset)
		buf = binary.BigEndian.AppendUint64(buf, m.Producer)
		buf = binary.BigEndian.AppendUint64(buf, m.Seq)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(m.Payload)))
		buf = append(buf, m.Payload...)
	}
	return s.write(finish(buf))
}

// idleReader reads from a connection with a read deadline IdleTimeout
// ahead, so that a connection is closed after IdleTimeout without a byte,
// not after IdleTimeout in one frame.
type idleReader struct {
	c  net.Conn
	dl lazyDeadline
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.dl.arm(r.c.SetReadDeadline)
	return r.c.Read(p)
}

// lazyDeadline keeps a deadline between d/2 and d ahead of now, and moves
// it only when less than d/2 is left: one timer operation per d/2 of
// traffic instead of one per read or write. Timers are cheap but not free,
// and a stopped timer may hold its memory until the instant it was due
// (inside synctest bubbles, always).
type lazyDeadline struct {
	d  time.Duration
	at time.Time
}

func (l *lazyDeadline) arm(set func(time.Time) error) {
	if now := time.Now(); l.at.Sub(now) < l.d/2 {
		l.at = now.Add(l.d)
		set(l.at)
	}
}
