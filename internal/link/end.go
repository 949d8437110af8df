package link

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// End is one end of a connection: the link it writes (Tx) and the link it
// reads (Rx). It holds the rules of a TCP connection's end, once, for
// every front end:
//
//   - its retransmissions gave up: its reads fail with ETIMEDOUT (its
//     writes already do);
//   - a write drew an injected reset: its reads fail with the reset too;
//   - a reset from the peer reached it: its writes fail, with EPIPE if the
//     peer had closed first (its FIN was read here: CLOSE_WAIT) and with
//     the reset otherwise;
//   - data reached it after its reader closed: it answers with one reset;
//   - Close is close(2): unread data (or an abortive close) resets the
//     connection, otherwise a FIN follows what was written; it never
//     waits for the flight time.
//
// A connection error (reset, timeout) is reported once, to the first Read
// or Write that meets it, like a socket's pending error; after it reads
// return io.EOF and writes EPIPE, as on Linux.
//
// Safe for concurrent use.
type End struct {
	Tx, Rx *Link
	hooks  EndHooks

	mu       sync.Mutex // guards reported
	reported bool       // the connection error was returned once
	rstSent  atomic.Bool
	down     atomic.Bool // crashed, and its host not restarted yet
}

// EndHooks are a front end's additions to an End's rules, run after the
// rule itself, without any lock held. Nil fields do nothing.
type EndHooks struct {
	// ReadsFailed runs after a rule failed the end's reads: its
	// retransmissions gave up (err is ETIMEDOUT) or a write drew a reset.
	ReadsFailed func(err error)
	// PeerReset runs after a reset from the peer reached the end.
	PeerReset func(err error)
}

// NewPair makes a connection: a's link to b with config ab and profile
// pab, b's link to a with ba and pba, and both ends, wired before either
// is returned.
func NewPair(ab, ba Config, pab, pba Profile, ha, hb EndHooks) (a, b *End) {
	up, down := New(ab, pab), New(ba, pba)
	a = &End{Tx: up, Rx: down, hooks: ha}
	b = &End{Tx: down, Rx: up, hooks: hb}
	up.writer, up.reader = a, b
	down.writer, down.reader = b, a
	return a, b
}

// Read reads from Rx, reporting a connection error once.
func (e *End) Read(b []byte) (int, error) {
	n, err := e.Rx.Read(b)
	return n, e.report(err, io.EOF)
}

// Write writes to Tx, reporting a connection error once.
func (e *End) Write(b []byte) (int, error) {
	n, err := e.Tx.Write(b)
	return n, e.report(err, syscall.EPIPE)
}

// ReportRead and ReportWrite pass an error a front end met outside the
// End (a read or write straight on a real socket) through the same rule:
// the connection's first error is reported once, whoever meets it, and
// later ones become io.EOF (reads) and EPIPE (writes).
func (e *End) ReportRead(err error) error  { return e.report(err, io.EOF) }
func (e *End) ReportWrite(err error) error { return e.report(err, syscall.EPIPE) }

// report passes a connection error to the first call that meets it and
// after to every later one.
func (e *End) report(err, after error) error {
	if err == nil || !IsConnError(err) {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.reported {
		return after
	}
	e.reported = true
	return err
}

// IsConnError reports whether err ends a connection: a reset or a
// retransmission timeout.
func IsConnError(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ETIMEDOUT)
}

// Close closes the end like close(2), and abortively (a reset, as with
// SO_LINGER 0) when abort is set. It never blocks: what Write accepted is
// still delivered. It reports whether it reset the connection.
func (e *End) Close(abort bool) (reset bool) {
	unread := e.Rx.CloseRead(net.ErrClosed)
	reset = unread > 0 || abort
	if reset {
		e.rstSent.Store(true)
		e.Tx.Reset(syscall.ECONNRESET)
	} else {
		e.Tx.CloseWrite()
	}
	e.Tx.AbortWriter(net.ErrClosed)
	e.Tx.wdl.Release()
	return reset
}

// InjectReset resets the connection from this end at once, as an injected
// fault: a reset goes to the peer and this end's reads fail.
func (e *End) InjectReset() {
	err := Injected(syscall.ECONNRESET)
	e.Tx.Reset(err)
	e.Rx.AbortReader(err)
}

func (e *End) retransmissionsGaveUp() {
	err := Injected(syscall.ETIMEDOUT)
	e.failReads(err)
}

func (e *End) resetInjected(err error) {
	e.failReads(err)
}

func (e *End) failReads(err error) {
	e.Rx.AbortReader(err)
	if e.hooks.ReadsFailed != nil {
		e.hooks.ReadsFailed(err)
	}
}

func (e *End) resetArrived(err error) {
	werr := err
	if e.Rx.FinReceived() {
		werr = syscall.EPIPE // CLOSE_WAIT: the peer had closed first
	}
	e.Tx.AbortWriter(werr)
	if e.hooks.PeerReset != nil {
		e.hooks.PeerReset(err)
	}
}

// Crash ends this end as a power-off does: nothing more leaves it (no FIN,
// no reset; what has not arrived at the peer never will) and its own calls
// fail with err. Data reaching it is dropped silently until Revive, and
// answered with a reset after, as a restarted host answers segments of a
// connection it no longer knows. (The front end keeps arrivals away while
// the host is down; one arriving at the very instant of the crash is
// dropped like one handled just before it.)
func (e *End) Crash(err error) {
	e.down.Store(true)
	e.rstSent.Store(false)
	e.Tx.AbortWriter(err)
	e.Tx.acquire()
	e.Tx.discardPending()
	e.Tx.release()
	e.Tx.wdl.Release()
	e.Rx.CloseRead(err)
}

// Revive makes a crashed end answer data with a reset: its host runs again.
func (e *End) Revive() { e.down.Store(false) }

func (e *End) refusedData() {
	if e.down.Load() || e.rstSent.Swap(true) {
		return
	}
	e.Tx.Reset(syscall.ECONNRESET)
}
