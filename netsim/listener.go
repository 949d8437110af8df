package netsim

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/headwind-go/headwind/internal/link"
)

// Listener is a TCP listener on a host: a net.Listener with a bounded
// accept queue (Config.Backlog) and a deadline, like *net.TCPListener.
// It is safe for concurrent use.
type Listener struct {
	host    *Host
	port    uint16
	addr    *net.TCPAddr
	backlog int
	wake    chan struct{} // cap 1: the queue or the state changed
	done    chan struct{} // closed by Close
	dl      link.Deadline

	mu     sync.Mutex // guards queue and closed
	queue  []*Conn
	closed bool
}

var _ net.Listener = (*Listener)(nil)

func newListener(h *Host, port uint16) *Listener {
	return &Listener{
		host:    h,
		port:    port,
		addr:    tcpAddr(netip.AddrPortFrom(h.ip, port)),
		backlog: h.net.cfg.Backlog,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

// enqueue offers a new connection; false when the backlog is full or the
// listener closed (the connection attempt goes unanswered).
func (l *Listener) enqueue(c *Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(l.queue) >= l.backlog {
		return false
	}
	l.queue = append(l.queue, c)
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// Accept waits for and returns the next connection, a *Conn whose
// RemoteAddr is the dialer's address. It blocks until a connection, Close,
// or the deadline.
func (l *Listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.closed {
			return nil, l.opErr(net.ErrClosed)
		}
		if l.dl.Passed() {
			return nil, l.opErr(os.ErrDeadlineExceeded)
		}
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			if len(l.queue) > 0 {
				select {
				case l.wake <- struct{}{}:
				default:
				}
			}
			return c, nil
		}
		l.mu.Unlock()
		select {
		case <-l.wake:
		case <-l.done:
		case <-l.dl.Wait():
		}
		l.mu.Lock()
	}
}

// SetDeadline sets the deadline of Accept; the zero time clears it.
func (l *Listener) SetDeadline(t time.Time) error {
	l.dl.Set(t)
	return nil
}

// Close stops listening: blocked Accepts return net.ErrClosed, and
// connections still in the queue are reset, as Linux resets them. Close is
// idempotent.
func (l *Listener) Close() error { return l.close(true) }

// close closes the listener; its queued conns are reset if abortQueued,
// and left alone otherwise (a crash takes them down without a reset).
func (l *Listener) close(abortQueued bool) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	queued := l.queue
	l.queue = nil
	close(l.done)
	l.mu.Unlock()
	if abortQueued {
		for _, c := range queued {
			c.abort()
		}
	}
	l.host.removeListener(l)
	n := l.host.net
	n.mu.Lock()
	delete(n.lns, l)
	n.mu.Unlock()
	return nil
}

// Addr returns the listening address, a *net.TCPAddr.
func (l *Listener) Addr() net.Addr { return l.addr }

func (l *Listener) opErr(err error) error {
	return &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: err}
}
