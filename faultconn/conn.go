package faultconn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/headwind-go/headwind/internal/link"
)

// Conn is a net.Conn with faults: what it writes passes through the Out
// profile before it reaches the wrapped conn, and what the wrapped conn
// receives passes through the In profile before Read returns it.
//
// A direction whose profile has no fault goes straight to the wrapped conn,
// with no goroutine and no copy. A direction with faults has a pump
// goroutine that moves segments between the engine and the wrapped conn at
// their drawn instants; it ends once the conn is closed and what was in
// flight has been delivered.
//
// Conn is safe for concurrent use.
type Conn struct {
	raw     net.Conn
	name    string
	tx, rx  *link.Link
	wsem    chan struct{} // cap 1: direct writes, and the Out pump's start
	rsem    chan struct{} // cap 1: direct reads, and the In pump's start
	pumpOut atomic.Bool   // the Out pump owns writes to raw
	pumpIn  atomic.Bool   // the In pump owns reads from raw
	closed  atomic.Bool
	direct  struct{ outSeg, outBytes, inSeg, inBytes atomic.Uint64 }

	outDone   chan struct{} // closed when the Out pump returns
	inDone    chan struct{} // closed when the In pump returns
	mu        sync.Mutex    // guards the fields below
	rawClosed bool
	readDL    time.Time // the read deadline, restored on raw if needed
}

var _ net.Conn = (*Conn)(nil)

// Wrap returns c with the faults of cfg. It fails, naming the field, when
// cfg is invalid. The Conn owns c: closing the Conn closes c.
//
// Fates drawn for Out are deterministic: they depend on Seed, Name and the
// sizes of the writes. Fates drawn for In depend on how the kernel cut the
// bytes into reads, which is not deterministic over real sockets: for
// reproducible faults in both directions, wrap both ends and fault only
// their Out directions.
func Wrap(c net.Conn, cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return wrap(c, cfg, cfg.name("conn")), nil
}

func wrap(c net.Conn, cfg Config, name string) *Conn {
	fc := &Conn{
		raw:     c,
		name:    name,
		wsem:    make(chan struct{}, 1),
		rsem:    make(chan struct{}, 1),
		outDone: make(chan struct{}),
		inDone:  make(chan struct{}),
	}
	txc := linkConfig(name, Out, cfg.Seed, cfg.Mode, cfg.Window, cfg.Trace)
	txc.Script = cfg.script()
	txc.OnTimeout = func() { fc.failReads(link.Injected(syscall.ETIMEDOUT)) }
	txc.OnInjectedReset = fc.failReads
	rxc := linkConfig(name, In, cfg.Seed, cfg.Mode, cfg.Window, cfg.Trace)
	rxc.OnTimeout = func() { fc.failWrites(link.Injected(syscall.ETIMEDOUT)) }
	rxc.OnReset = func(err error) {
		fc.failWrites(err)
		fc.abortRaw()
	}
	fc.tx = link.New(txc, toLink(cfg.Out))
	fc.rx = link.New(rxc, toLink(cfg.In))
	if !cfg.Out.IsZero() || cfg.Script != nil {
		fc.startOut()
	}
	if !cfg.In.IsZero() {
		fc.startIn()
	}
	return fc
}

// Unwrap returns the wrapped conn.
func (c *Conn) Unwrap() net.Conn { return c.raw }

// Name returns the connection's name, as used in the trace.
func (c *Conn) Name() string { return c.name }

// SetProfiles changes the faults of both directions at run time; they apply
// from the next segment. It fails, naming the field, on an invalid profile.
func (c *Conn) SetProfiles(out, in Profile) error {
	if err := (Config{Out: out, In: in}).Validate(); err != nil {
		return err
	}
	c.tx.SetProfile(toLink(out))
	c.rx.SetProfile(toLink(in))
	if !out.IsZero() {
		c.startOut()
	}
	if !in.IsZero() {
		c.startIn()
	}
	return nil
}

// Profiles returns the current faults of both directions.
func (c *Conn) Profiles() (out, in Profile) {
	return fromLink(c.tx.Profile()), fromLink(c.rx.Profile())
}

// Stats returns what has happened on the connection so far.
func (c *Conn) Stats() Stats {
	out, in := DirStats(c.tx.Stats()), DirStats(c.rx.Stats())
	out.Segments += c.direct.outSeg.Load()
	out.Bytes += c.direct.outBytes.Load()
	out.Delivered += c.direct.outSeg.Load()
	in.Segments += c.direct.inSeg.Load()
	in.Bytes += c.direct.inBytes.Load()
	in.Delivered += c.direct.inSeg.Load()
	return Stats{Out: out, In: in}
}

// Read reads what has arrived through the In profile. It blocks until data,
// end of stream, an error, or the read deadline.
func (c *Conn) Read(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	if !c.pumpIn.Load() {
		c.rsem <- struct{}{}
		if !c.pumpIn.Load() {
			n, err := c.raw.Read(b)
			<-c.rsem
			if n > 0 {
				c.direct.inSeg.Add(1)
				c.direct.inBytes.Add(uint64(n))
			}
			if err != nil && c.closed.Load() {
				return n, c.opErr("read", net.ErrClosed)
			}
			if err == nil || !c.pumpIn.Load() || n > 0 || !isTimeout(err) {
				return n, err
			}
			// The In pump started and cut this read short: read from it.
		} else {
			<-c.rsem
		}
	}
	n, err := c.rx.Read(b)
	return n, c.opErr("read", err)
}

// Write writes b through the Out profile. Like a kernel send buffer, it
// returns once b is queued, blocking only while the window is full.
func (c *Conn) Write(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	if !c.pumpOut.Load() {
		c.wsem <- struct{}{}
		if !c.pumpOut.Load() {
			n, err := c.raw.Write(b)
			<-c.wsem
			if n > 0 {
				c.direct.outSeg.Add(1)
				c.direct.outBytes.Add(uint64(n))
			}
			if err != nil && c.closed.Load() {
				err = c.opErr("write", net.ErrClosed)
			}
			return n, err
		}
		<-c.wsem
	}
	n, err := c.tx.Write(b)
	if err != nil && c.closed.Load() {
		err = net.ErrClosed // woken by Close, whichever of its steps woke it
	}
	return n, c.opErr("write", err)
}

// Linger is how long Close waits, after the last segment in flight was due,
// for the wrapped conn to take what the Out pump still holds (its peer may
// not be reading); then Close closes it anyway and the rest is lost.
const Linger = time.Second

// Close closes the connection: every blocked Read and Write returns, and
// later calls fail with net.ErrClosed. Data already written is still
// delivered: Close waits until the Out pump has handed what was in flight
// to the wrapped conn (the largest delay drawn for it, plus at most Linger
// if the wrapped conn does not take it; inside a synctest bubble this takes
// no real time), then closes the wrapped conn and waits for the pumps to
// return, so no goroutine outlives it. Close is idempotent.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return c.opErr("close", net.ErrClosed)
	}
	c.rx.CloseRead(net.ErrClosed)
	c.tx.CloseWrite()
	c.tx.AbortWriter(net.ErrClosed)
	if errors.Is(c.tx.WriteErr(), syscall.ETIMEDOUT) {
		c.tx.CloseRead(net.ErrClosed) // nothing more will reach the Out pump
	}
	if c.pumpOut.Load() {
		c.drainOut()
	}
	err := c.closeRaw()
	if c.pumpIn.Load() {
		<-c.inDone
	}
	return err
}

// drainOut waits for the Out pump to hand what is in flight to the wrapped
// conn and return. While segments are still on their way (retransmissions
// included) it waits for them; once all have arrived it gives the wrapped
// conn Linger to take them, then closes it.
func (c *Conn) drainOut() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait, lingering := Linger, true
		if last := c.tx.LastArrival(); !last.IsZero() {
			wait, lingering = max(time.Until(last), 0), false
		}
		timer.Reset(wait)
		select {
		case <-c.outDone:
			return
		case <-timer.C:
			if lingering {
				c.closeRaw() // the wrapped conn does not take the data: give up on it
				<-c.outDone
				return
			}
		}
	}
}

// CloseWrite shuts down the writing side, like (*net.TCPConn).CloseWrite:
// the peer reads end of stream after what was in flight. It fails with
// errors.ErrUnsupported when the wrapped conn has no CloseWrite method
// (net.Pipe has none).
func (c *Conn) CloseWrite() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	cw, ok := c.raw.(interface{ CloseWrite() error })
	if !ok {
		return c.opErr("close", errors.ErrUnsupported)
	}
	c.tx.CloseWrite()
	if c.pumpOut.Load() {
		return nil // the Out pump shuts down raw after what is in flight
	}
	return cw.CloseWrite()
}

// CloseRead shuts down the reading side, like (*net.TCPConn).CloseRead:
// later reads return io.EOF.
func (c *Conn) CloseRead() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	c.rx.CloseRead(io.EOF)
	if cr, ok := c.raw.(interface{ CloseRead() error }); ok {
		return cr.CloseRead()
	}
	return nil
}

// LocalAddr returns the wrapped conn's local address.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the wrapped conn's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets both deadlines, as net.Conn says.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline, as net.Conn says.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.rx.SetReadDeadline(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDL = t
	if !c.pumpIn.Load() {
		return c.raw.SetReadDeadline(t)
	}
	return nil
}

// SetWriteDeadline sets the write deadline, as net.Conn says.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.tx.SetWriteDeadline(t)
	if !c.pumpOut.Load() {
		return c.raw.SetWriteDeadline(t)
	}
	return nil
}

// failReads makes reads fail with err once what arrived is read, moving
// reads to the In link so that a direct Read in progress sees it too.
func (c *Conn) failReads(err error) {
	c.rx.AbortReader(err)
	c.startIn()
}

// failWrites makes writes fail with err, moving them to the Out link.
func (c *Conn) failWrites(err error) {
	c.tx.AbortWriter(err)
	c.startOut()
}

// startOut hands writes to raw over to the Out pump, once.
func (c *Conn) startOut() {
	if c.pumpOut.Swap(true) {
		return
	}
	go c.outPump()
}

// startIn hands reads from raw over to the In pump, once. A direct Read in
// progress is cut short by a past deadline and continues from the pump.
func (c *Conn) startIn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pumpIn.Swap(true) {
		return
	}
	c.raw.SetReadDeadline(time.Unix(1, 0))
	go c.inPump()
}

// outPump moves segments from the Out link to raw at their instants.
func (c *Conn) outPump() {
	defer close(c.outDone)
	c.wsem <- struct{}{} // a direct write in progress finishes first
	<-c.wsem
	c.raw.SetWriteDeadline(time.Time{}) // the user's deadline is the Out link's now
	buf := make([]byte, 64<<10)
	for {
		n, err := c.tx.Read(buf)
		if n > 0 {
			if _, werr := c.raw.Write(buf[:n]); werr != nil {
				c.tx.AbortWriter(werr)
				c.tx.CloseRead(net.ErrClosed)
				break
			}
		}
		if err == nil {
			continue
		}
		if err == io.EOF && !c.closed.Load() {
			if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			// Keep the raw conn open for reading; Close closes it.
		} else if errors.Is(err, syscall.ECONNRESET) {
			c.abortRaw()
		}
		break
	}
}

// inPump moves what raw receives into the In link.
func (c *Conn) inPump() {
	defer close(c.inDone)
	c.rsem <- struct{}{} // a direct read in progress returns first
	<-c.rsem
	c.mu.Lock()
	c.raw.SetReadDeadline(time.Time{}) // the user's deadline is the In link's now
	c.mu.Unlock()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.raw.Read(buf)
		if n > 0 {
			if _, werr := c.rx.Write(buf[:n]); werr != nil {
				return // reset drawn, or the reader side is closed
			}
		}
		if err != nil {
			if isTimeout(err) && !c.closed.Load() {
				c.mu.Lock()
				c.raw.SetReadDeadline(time.Time{})
				c.mu.Unlock()
				continue
			}
			if err == io.EOF {
				c.rx.CloseWrite()
			} else if !c.closed.Load() {
				c.rx.Reset(err)
			}
			return
		}
	}
}

// abortRaw resets the wrapped conn: a *net.TCPConn is closed with linger
// 0, so that the real peer sees ECONNRESET too.
func (c *Conn) abortRaw() {
	if tc, ok := c.raw.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.closeRaw()
}

func (c *Conn) closeRaw() error {
	c.mu.Lock()
	if c.rawClosed {
		c.mu.Unlock()
		return nil
	}
	c.rawClosed = true
	c.mu.Unlock()
	return c.raw.Close()
}

// opErr wraps an engine error as a socket would report it.
func (c *Conn) opErr(op string, err error) error {
	return opError(op, c.raw.LocalAddr(), c.raw.RemoteAddr(), err)
}

func opError(op string, local, remote net.Addr, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return err
	}
	netw := ""
	if local != nil {
		netw = local.Network()
	}
	return &net.OpError{Op: op, Net: netw, Source: local, Addr: remote, Err: err}
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// fromLink converts the engine's profile back.
func fromLink(lp link.Profile) Profile {
	p := Profile{
		Latency:      lp.Latency,
		Jitter:       lp.Jitter,
		Distribution: Distribution(lp.Dist),
		Correlation:  lp.Correlation,
		Bandwidth:    lp.Bandwidth,
		Loss:         lp.Loss,
		Duplicate:    lp.Duplicate,
		Reorder:      lp.Reorder,
		Corrupt:      lp.Corrupt,
		Segment:      lp.Segment,
		Reset:        lp.Reset,
	}
	if g := lp.Burst; g != nil {
		p.Burst = &GilbertElliott{P: g.P, R: g.R, BadLoss: g.BadLoss, GoodLoss: g.GoodLoss}
	}
	return p
}
