package faultconn

import (
	"cmp"
	"errors"
	"fmt"
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
// their drawn instants; the pumps end once the conn is closed and what was
// in flight has been delivered (see Close and Done).
//
// Conn is safe for concurrent use.
type Conn struct {
	raw     net.Conn
	name    string
	linger  time.Duration
	user    *link.End // this side: writes Out, reads In
	pump    *link.End // the wrapped conn's side: writes In, reads Out
	tx, rx  *link.Link
	gate    *link.Gate    // Partition and Heal; shared by a Dialer's conns
	wsem    chan struct{} // cap 1: direct writes, and the Out pump's start
	rsem    chan struct{} // cap 1: direct reads, and the In pump's start
	pumpOut atomic.Bool   // the Out pump owns writes to raw
	pumpIn  atomic.Bool   // the In pump owns reads from raw
	closed  atomic.Bool
	direct  struct{ outSeg, outBytes, inSeg, inBytes atomic.Uint64 }
	done    chan struct{} // closed when the Conn is done; see Done

	mu        sync.Mutex // guards the fields below
	rawClosed bool
	outLive   bool      // the Out pump is running
	inLive    bool      // the In pump is running
	readDL    time.Time // the read deadline, restored on raw if needed
	err       error     // why delivery after Close ended early; see Err
}

var _ net.Conn = (*Conn)(nil)

// Wrap returns c with the faults of cfg. It fails, naming the field, when
// cfg is invalid, and when c is nil. The Conn owns c: closing the Conn
// closes c.
//
// Fates drawn for Out are deterministic: they depend on Seed, Name and the
// sizes of the writes. Fates drawn for In depend on how the kernel cut the
// bytes into reads, which is not deterministic over real sockets: for
// reproducible faults in both directions, wrap both ends and fault only
// their Out directions.
func Wrap(c net.Conn, cfg Config) (*Conn, error) {
	if c == nil {
		return nil, errors.New("faultconn: Wrap: the conn is nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return wrap(c, cfg, cfg.name("conn"), nil, nil), nil
}

// wrap wraps c. A conn of a Dialer or a listener has lazy, which names it
// and keys its random streams (see link.Ordinals); otherwise name does.
func wrap(c net.Conn, cfg Config, name string, lazy *link.Lazy, gate *link.Gate) *Conn {
	if lazy != nil {
		name = lazy.Name()
	}
	fc := &Conn{
		raw:    c,
		name:   name,
		linger: cmp.Or(cfg.Linger, DefaultLinger),
		gate:   gate,
		wsem:   make(chan struct{}, 1),
		rsem:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	if fc.gate == nil {
		fc.gate = new(link.Gate)
	}
	txc := linkConfig(name, Out, cfg.Seed, cfg.Mode, cfg.Window, cfg.Trace)
	txc.Script = cfg.script()
	txc.Blocked = fc.gate.Blocked
	rxc := linkConfig(name, In, cfg.Seed, cfg.Mode, cfg.Window, cfg.Trace)
	rxc.Blocked = fc.gate.Blocked
	txc.Lazy, rxc.Lazy = lazy, lazy
	fc.user, fc.pump = link.NewPair(txc, rxc, toLink(cfg.Out), toLink(cfg.In),
		link.EndHooks{ReadsFailed: fc.readsFailed, PeerReset: fc.peerReset},
		link.EndHooks{ReadsFailed: fc.pumpReadsFailed})
	fc.tx, fc.rx = fc.user.Tx, fc.user.Rx
	if !cfg.Out.IsZero() || cfg.Script != nil || fc.gate.Shut() {
		fc.startOut()
	}
	if !cfg.In.IsZero() || fc.gate.Shut() {
		fc.startIn()
	}
	return fc
}

// Unwrap returns the wrapped conn.
func (c *Conn) Unwrap() net.Conn { return c.raw }

// Name returns the connection's name, as used in the trace.
func (c *Conn) Name() string { return c.tx.Name() }

// SetProfiles changes the faults of both directions at run time; they apply
// from the next transmission (a retransmission draws its fate under the
// profiles in force when it is sent, so healing a lossy profile rescues
// the data in flight). It fails, naming the field, on an invalid profile,
// and with net.ErrClosed after Close.
func (c *Conn) SetProfiles(out, in Profile) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
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
			if err == nil || n > 0 {
				return n, err
			}
			if !c.pumpIn.Load() {
				err = c.user.ReportRead(c.rawErr("read", err))
				if err == io.EOF {
					// The peer's FIN, read here: the In link keeps it, so
					// that later reads through it, and the rules that
					// depend on it (a reset in CLOSE_WAIT), see it too.
					c.rx.CloseWrite()
				}
				return n, c.opErr("read", err)
			}
			// The In pump started and cut this read short (or raw was
			// closed under it after a failure): the In link has the rest.
		} else {
			<-c.rsem
		}
	}
	n, err := c.user.Read(b)
	if err != nil && c.closed.Load() {
		err = net.ErrClosed
	}
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
				return n, c.opErr("write", net.ErrClosed)
			}
			return n, c.opErr("write", c.user.ReportWrite(c.rawErr("write", err)))
		}
		<-c.wsem
	}
	n, err := c.user.Write(b)
	if err != nil && c.closed.Load() {
		err = net.ErrClosed // woken by Close, whichever of its steps woke it
	}
	return n, c.opErr("write", err)
}

// DefaultLinger is how long delivery after Close waits for the wrapped
// conn to take more bytes before it gives up, when Config.Linger is zero:
// about as long as Linux keeps probing a peer that does not read before
// it drops an orphaned connection.
const DefaultLinger = 2 * time.Minute

// Close closes the connection like close(2): it returns at once, every
// blocked Read and Write returns, and later calls fail with net.ErrClosed.
// What Write accepted is still delivered, in the background, at its drawn
// instants: the Out pump hands it to the wrapped conn, then closes it. If
// the wrapped conn takes nothing for Config.Linger (its peer does not
// read), delivery gives up and resets the wrapped conn (a *net.TCPConn's
// peer sees ECONNRESET, never a clean end of stream after a hole; over a
// conn that cannot carry a reset, such as net.Pipe, the peer sees end of
// stream, and Err reports the loss). If data was left unread, the
// connection is reset instead, as by a Linux stack. Done says when
// everything has finished. Close is idempotent.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return c.opErr("close", net.ErrClosed)
	}
	reset := c.user.Close(false)
	// Once nothing is in flight, the Out pump ends even if the last
	// segment never arrives (a reset lost to a partition): raw is reset.
	c.tx.AbortReaderWhenIdle(syscall.ECONNRESET)
	if !c.pumpOut.Load() {
		// Writes went straight to raw: nothing is in flight.
		if reset {
			return c.abortRaw()
		}
		return c.closeRaw()
	}
	c.raw.SetWriteDeadline(time.Now().Add(c.linger)) // bounds a write to raw in progress
	c.mu.Lock()
	finished := !c.outLive
	c.mu.Unlock()
	if finished {
		return c.closeRaw() // the Out pump ended before (CloseWrite, or a reset)
	}
	return nil
}

// Done returns a channel that is closed once the Conn is closed and
// finished: what Write accepted has been handed to the wrapped conn (or
// delivery gave up), the wrapped conn is closed, and no goroutine of the
// Conn remains. Inside a synctest bubble, waiting for it takes virtual
// time only.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why delivery of what Write accepted ended early: the
// wrapped conn failed, took nothing for Linger after Close, the
// connection was reset, or its retransmissions gave up. It returns nil
// while delivery goes on and when everything was delivered.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
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
		return c.rawDeadlineErr(c.raw.SetReadDeadline(t))
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
		return c.rawDeadlineErr(c.raw.SetWriteDeadline(t))
	}
	return nil
}

// rawGone reports whether err says that the wrapped conn is closed: by
// its peer, as net.Pipe says it (io.ErrClosedPipe), or by this Conn after
// a failure.
func rawGone(err error) bool {
	return errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed)
}

// rawErr maps an error of the wrapped conn to what a TCP socket whose
// peer is gone gives: a read sees end of stream, a write EPIPE. Other
// errors pass unchanged.
func (c *Conn) rawErr(op string, err error) error {
	if err == nil || !rawGone(err) {
		return err
	}
	if op == "read" {
		return io.EOF
	}
	return c.opErr(op, syscall.EPIPE)
}

// rawDeadlineErr drops the error of setting a deadline on a wrapped conn
// that is closed underneath this open Conn: a TCP socket accepts a
// deadline whatever its peer did.
func (c *Conn) rawDeadlineErr(err error) error {
	if err != nil && rawGone(err) && !c.closed.Load() {
		return nil
	}
	return err
}

// readsFailed runs when the End's rules failed the user's reads (the Out
// link's retransmissions gave up, or a write drew a reset): reads move to
// the In link so that a direct Read sees it. After a give-up the Out pump
// stops and resets the wrapped conn; a drawn reset reaches it on its own.
func (c *Conn) readsFailed(err error) {
	c.startIn()
	if errors.Is(err, syscall.ETIMEDOUT) {
		c.tx.AbortReader(err)
	}
}

// pumpReadsFailed runs when the In link's retransmissions gave up (or the
// In pump's write drew a reset): the connection is dead both ways for the
// user, and the wrapped conn is reset.
func (c *Conn) pumpReadsFailed(err error) {
	if !errors.Is(err, syscall.ETIMEDOUT) {
		return // a drawn reset: on its way to the user through the In link
	}
	c.rx.AbortReader(err)
	c.startIn()
	c.tx.AbortWriter(err)
	c.startOut()
	c.tx.AbortReader(err) // the Out pump resets the wrapped conn
}

// peerReset runs when a reset reached the user through the In link: writes
// fail (the End's rule; they move to the Out link so that a direct Write
// sees it), and the wrapped conn is reset so that the real peer sees it.
func (c *Conn) peerReset(error) {
	c.startOut()
	c.abortRaw()
}

// startOut hands writes to raw over to the Out pump, once, unless the
// wrapped conn is already closed.
func (c *Conn) startOut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rawClosed || c.pumpOut.Swap(true) {
		return
	}
	c.outLive = true
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
	if c.rawClosed {
		return // reads come from the In link; nothing more comes from raw
	}
	c.inLive = true
	c.raw.SetReadDeadline(time.Unix(1, 0))
	go c.inPump()
}

// outPump moves segments from the Out link to raw at their instants.
func (c *Conn) outPump() {
	defer func() {
		c.finish(&c.outLive)
		// Close leaves raw to a live Out pump; if Close came after this
		// pump last looked (it had half-closed raw for a CloseWrite) but
		// before it finished, raw is this pump's to close.
		if c.closed.Load() {
			c.closeRaw()
		}
	}()
	c.wsem <- struct{}{} // a direct write in progress finishes first
	<-c.wsem
	if !c.closed.Load() {
		c.raw.SetWriteDeadline(time.Time{}) // the user's deadline is the Out link's now
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := c.tx.Read(buf)
		if n > 0 {
			if werr := c.writeRaw(buf[:n]); werr != nil {
				c.pumpFailed(werr)
				return
			}
			continue
		}
		switch {
		case err == nil:
			continue
		case err == io.EOF: // a FIN: everything written has been handed over
			if c.closed.Load() {
				c.closeRaw()
			} else if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite() // keep raw open for reading; Close closes it
			}
		case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ETIMEDOUT):
			c.fail(err)
			c.abortRaw() // the real peer sees the reset too
		default:
			c.closeRaw() // net.ErrClosed: shut down
		}
		return
	}
}

// pumpFailed ends the connection when the Out pump could not write to
// raw (its peer is gone, or reset it): writes fail with the error (a
// closed pipe's as EPIPE), reads move to the In link and end with the
// reset (once) or, when the peer just went away, end of stream after what
// arrived; raw is reset.
func (c *Conn) pumpFailed(err error) {
	if rawGone(err) {
		err = syscall.EPIPE
	}
	c.fail(err)
	c.tx.AbortWriter(err)
	c.tx.CloseRead(net.ErrClosed) // what comes later is refused
	c.startIn()                   // before raw closes: a direct Read moves to the In link
	if link.IsConnError(err) {
		c.rx.Reset(err)
	} else {
		c.rx.CloseWrite()
	}
	c.abortRaw()
}

// writeRaw writes b to raw. After Close it gives up once raw has taken
// nothing for Linger.
func (c *Conn) writeRaw(b []byte) error {
	for len(b) > 0 {
		closing := c.closed.Load()
		if closing {
			c.raw.SetWriteDeadline(time.Now().Add(c.linger))
		}
		n, err := c.raw.Write(b)
		b = b[n:]
		switch {
		case err == nil:
		case !isTimeout(err):
			return err
		case n > 0 || !closing:
			// Progress, or a deadline Close set while the write began
			// before it: try again, with a new Linger. Not closing, the
			// deadline is one the user set on raw as this pump took its
			// writes over (the user's deadlines are the Out link's now):
			// clear it, or every write would fail at once, for ever.
			if !closing && !c.closed.Load() {
				c.raw.SetWriteDeadline(time.Time{})
			}
		default:
			return fmt.Errorf("faultconn: %s: gave up delivering after Close: the wrapped conn took nothing for %v: %w",
				c.Name(), c.linger, link.Injected(syscall.ETIMEDOUT))
		}
	}
	return nil
}

// inPump moves what raw receives into the In link.
func (c *Conn) inPump() {
	defer c.finish(&c.inLive)
	c.rsem <- struct{}{} // a direct read in progress returns first
	<-c.rsem
	c.mu.Lock()
	c.raw.SetReadDeadline(time.Time{}) // the user's deadline is the In link's now
	c.mu.Unlock()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.raw.Read(buf)
		if n > 0 {
			if _, werr := c.pump.Write(buf[:n]); werr != nil {
				return // a reset drawn, or retransmissions gave up: the Out pump resets raw
			}
		}
		if err == nil {
			continue
		}
		c.mu.Lock()
		gone := c.rawClosed
		if isTimeout(err) && !gone {
			c.raw.SetReadDeadline(time.Time{}) // the kick that moved a direct Read here
			c.mu.Unlock()
			continue
		}
		c.mu.Unlock()
		switch {
		case err == io.EOF:
			c.rx.CloseWrite()
		case !gone:
			c.rx.Reset(err) // the real peer reset, or raw failed
		}
		return
	}
}

// fail records why delivery ended early, once.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// finish marks a pump as ended and closes Done if everything is.
func (c *Conn) finish(live *bool) {
	c.mu.Lock()
	*live = false
	c.doneLocked()
	c.mu.Unlock()
}

// doneLocked closes Done once the Conn is closed, raw is closed and no
// pump runs. Requires c.mu held.
func (c *Conn) doneLocked() {
	if c.rawClosed && !c.outLive && !c.inLive && c.closed.Load() && !isClosed(c.done) {
		close(c.done)
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// abortRaw resets the wrapped conn: a *net.TCPConn is closed with linger
// 0, so that the real peer sees ECONNRESET too.
func (c *Conn) abortRaw() error {
	if tc, ok := c.raw.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return c.closeRaw()
}

func (c *Conn) closeRaw() error {
	var err error
	c.mu.Lock()
	if !c.rawClosed {
		c.rawClosed = true
		c.mu.Unlock()
		err = c.raw.Close()
		c.tx.AbortReader(net.ErrClosed) // an Out pump waiting for segments ends
		c.mu.Lock()
	}
	c.doneLocked()
	c.mu.Unlock()
	return err
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
func fromLink(lp link.Profile) Profile { return link.Back[Profile](lp) }
