package netsim

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/internal/link"
)

// Conn is one end of a stream connection between two hosts: a net.Conn
// with TCP's behaviour and *net.TCPAddr addresses. Each direction is a link
// with the profile of its pair of hosts. A Conn has no goroutine of its
// own. It is safe for concurrent use.
type Conn struct {
	net           *Network
	local, remote *Host
	laddr, raddr  *net.TCPAddr
	lport         uint16
	end           *link.End // the connection rules; tx and rx are its links
	tx, rx        *link.Link
	peer          *Conn
	client        bool      // the dialing end
	created       time.Time // when the dial's SYN arrived

	closed  atomic.Bool
	linger0 atomic.Bool // SetLinger(0): Close resets
}

var _ net.Conn = (*Conn)(nil)

// newPair makes both ends of a connection from client:cport to dst on
// server, registered with the network.
func (n *Network) newPair(client, server *Host, cport uint16, dst netip.AddrPort, lazy *link.Lazy) (c, s *Conn) {
	name := lazy.Name()
	caddr := netip.AddrPortFrom(client.ip, cport)
	n.mu.Lock()
	up := n.cfg.linkConfig(name, uint8(faultconn.Out), n)
	down := n.cfg.linkConfig(name, uint8(faultconn.In), n)
	up.Lazy, down.Lazy = lazy, lazy
	up.Blocked = n.blockedFunc(client.name, server.name)
	down.Blocked = n.blockedFunc(server.name, client.name)
	up.Held = n.heldFunc(client.name, server.name)
	down.Held = n.heldFunc(server.name, client.name)
	upP := link.Convert(n.profileLocked(client.name, server.name))
	downP := link.Convert(n.profileLocked(server.name, client.name))
	// Still under n.mu until the conns are registered: a SetLink cannot
	// fall between reading the profiles and registering the conns it
	// updates.
	defer n.mu.Unlock()

	c = &Conn{net: n, local: client, remote: server, laddr: tcpAddr(caddr), raddr: tcpAddr(dst), lport: cport, client: true}
	s = &Conn{net: n, local: server, remote: client, laddr: tcpAddr(dst), raddr: tcpAddr(caddr), lport: dst.Port()}
	c.peer, s.peer = s, c
	c.created, s.created = time.Now(), time.Now()
	c.end, s.end = link.NewPair(up, down, upP, downP, link.EndHooks{}, link.EndHooks{})
	c.tx, c.rx = c.end.Tx, c.end.Rx
	s.tx, s.rx = s.end.Tx, s.end.Rx

	n.conns[c] = struct{}{}
	n.conns[s] = struct{}{}
	server.mu.Lock()
	server.tcp[dst.Port()]++ // the accepted conn shares the listener's port
	server.mu.Unlock()
	return c, s
}

func (cfg *Config) linkConfig(name string, dir uint8, n *Network) link.Config {
	return link.Config{
		Name:   name,
		Dir:    dir,
		Seed:   cfg.Seed,
		Mode:   link.Mode(cfg.Mode),
		Window: cfg.Window,
		Trace:  n.traceSink(),
	}
}

// Name returns the name of the connection's links, as traced:
// "client:port->server:port#n", where n counts the dials from the client
// host to that server address; or, for a connection dialed at the same
// instant as others from its host to that address, from its first write
// on, the key of its random streams, "client->server:port#n/hash" (see
// Determinism in the package doc).
func (c *Conn) Name() string { return c.tx.Name() }

// LocalAddr returns the local address, a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the remote address, a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// Read reads data that has arrived, at most one segment's worth. It blocks
// until data, end of stream, an error or the read deadline.
func (c *Conn) Read(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	n, err := c.end.Read(b)
	return n, c.opErr("read", err)
}

// Write queues b for the peer and returns, like a kernel send buffer; it
// blocks only while the window is full.
func (c *Conn) Write(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	n, err := c.end.Write(b)
	if err != nil && c.closed.Load() {
		err = net.ErrClosed // woken by Close, whichever of its steps woke it
	}
	return n, c.opErr("write", err)
}

// Close closes the connection. The peer reads what was in flight and then
// io.EOF, as after a FIN; but if data was left unread here (or SetLinger(0)
// was called), the peer gets a reset instead, as from a Linux stack. Every
// blocked call returns; later calls fail with net.ErrClosed. Close never
// blocks and is idempotent.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return c.opErr("close", net.ErrClosed)
	}
	c.end.Close(c.linger0.Load())
	c.release()
	return nil
}

// CloseWrite shuts down the writing side: the peer reads io.EOF after what
// was in flight. Later writes fail with EPIPE.
func (c *Conn) CloseWrite() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	c.tx.CloseWrite()
	return nil
}

// CloseRead shuts down the reading side: later reads return io.EOF, and
// data that arrives is answered with a reset, as Linux does.
func (c *Conn) CloseRead() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	c.rx.CloseRead(io.EOF)
	return nil
}

// SetDeadline sets both deadlines, as net.Conn says.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.rx.SetReadDeadline(t)
	c.tx.SetWriteDeadline(t)
	return nil
}

// SetReadDeadline sets the read deadline, as net.Conn says.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.rx.SetReadDeadline(t)
	return nil
}

// SetWriteDeadline sets the write deadline, as net.Conn says.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.tx.SetWriteDeadline(t)
	return nil
}

// SetLinger with sec == 0 makes Close reset the connection instead of
// closing it gracefully, as on a TCP socket; other values change nothing.
func (c *Conn) SetLinger(sec int) error {
	c.linger0.Store(sec == 0)
	return nil
}

// SetNoDelay does nothing: segments are cut by the profile, not by Nagle's
// algorithm. It exists for code that calls it on TCP conns.
func (c *Conn) SetNoDelay(bool) error { return nil }

// SetKeepAlive does nothing; it exists for code that calls it on TCP conns.
func (c *Conn) SetKeepAlive(bool) error { return nil }

// SetKeepAlivePeriod does nothing; it exists for code that calls it.
func (c *Conn) SetKeepAlivePeriod(time.Duration) error { return nil }

// SetKeepAliveConfig does nothing; it exists for code that calls it.
func (c *Conn) SetKeepAliveConfig(net.KeepAliveConfig) error { return nil }

// SetReadBuffer does nothing: the window is Config.Window.
func (c *Conn) SetReadBuffer(int) error { return nil }

// SetWriteBuffer does nothing: the window is Config.Window.
func (c *Conn) SetWriteBuffer(int) error { return nil }

// Stats returns what has happened on the connection, per direction.
func (c *Conn) Stats() faultconn.Stats {
	return faultconn.Stats{Out: faultconn.DirStats(c.tx.Stats()), In: faultconn.DirStats(c.rx.Stats())}
}

// String describes the connection for failure reports.
func (c *Conn) String() string {
	ob, os := c.tx.Queued()
	ib, is := c.rx.Queued()
	state := "open"
	if c.closed.Load() {
		state = "closed"
	}
	return fmt.Sprintf("%s %v->%v %s out: %dB held, %d in flight; in: %dB held, %d in flight",
		c.Name(), c.laddr, c.raddr, state, ob, os, ib, is)
}

// abort resets the connection from this end.
func (c *Conn) abort() {
	c.SetLinger(0)
	c.Close()
}

// discard drops an end that never became visible (an attempt whose SYN
// was not taken); freePort says whether its port goes back to the host.
func (c *Conn) discard(freePort bool) {
	c.closed.Store(true)
	c.tx.Shutdown(net.ErrClosed)
	c.rx.Shutdown(net.ErrClosed)
	if !freePort {
		c.lport = 0 // release below leaves the port alone
	}
	c.release()
}

// shutdown fails everything at once: Network.Close.
func (c *Conn) shutdown() {
	c.closed.Store(true)
	c.tx.Shutdown(net.ErrClosed)
	c.rx.Shutdown(net.ErrClosed)
	c.release()
}

// release unregisters the conn and frees its port, once.
func (c *Conn) release() {
	n := c.net
	n.mu.Lock()
	_, ok := n.conns[c]
	if ok {
		delete(n.conns, c)
		n.total.add(c.tx.Stats())
	}
	n.mu.Unlock()
	if ok && c.lport != 0 {
		c.local.releaseTCP(c.lport)
	}
}

func (c *Conn) opErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

// injectReset resets the connection in both directions at once, as an
// injected fault.
func (c *Conn) injectReset() {
	c.end.InjectReset()
	c.peer.end.InjectReset()
}
