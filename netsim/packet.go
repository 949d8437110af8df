package netsim

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/internal/link"
)

// PacketConn is a UDP socket on a host: a net.PacketConn with
// *net.UDPAddr addresses. Each datagram is sent whole over the link of its
// pair of hosts (never merged or split) and queued at the receiving socket,
// which holds at most Config.RecvQueue bytes, counting each datagram's
// payload plus 256 bytes of overhead (as a kernel charges each packet's
// buffer), and drops what does not fit, as a real socket buffer does. A PacketConn has no goroutine of its own.
// It is safe for concurrent use.
type PacketConn struct {
	host  *Host
	port  uint16
	laddr *net.UDPAddr
	rwake chan struct{} // cap 1: the queue or the state changed
	rdl   link.Deadline
	wdl   link.Deadline

	mu      sync.Mutex // guards the fields below
	queue   []datagram
	qbytes  int
	closed  bool
	flows   map[netip.AddrPort]*flow // one outgoing link per destination
	dropped uint64                   // datagrams dropped by a full receive queue
	recvd   uint64
}

type datagram struct {
	b    []byte
	from *net.UDPAddr
}

// flow is the link from this socket to one destination address.
type flow struct {
	l  *link.Link
	to string // destination host
}

var _ net.PacketConn = (*PacketConn)(nil)

// ListenPacket opens a UDP socket on the host, like net.ListenPacket:
// network is "udp" or "udp4", address ":port", "host:port" or "ip:port"
// naming this host; port 0 picks an ephemeral port.
func (h *Host) ListenPacket(network, address string) (net.PacketConn, error) {
	return h.ListenUDP(network, address)
}

// ListenUDP is ListenPacket returning the *PacketConn.
func (h *Host) ListenUDP(network, address string) (*PacketConn, error) {
	port, err := h.localPort("listen", network, "udp", address)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if port == 0 {
		port, err = h.ephemeralLocked(h.udpUsed)
	} else if h.udpUsed(port) {
		err = syscall.EADDRINUSE
	}
	if err != nil {
		h.mu.Unlock()
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: udpAddr(netip.AddrPortFrom(h.ip, port)), Err: wrapSys("bind", err)}
	}
	pc := &PacketConn{
		host:  h,
		port:  port,
		laddr: udpAddr(netip.AddrPortFrom(h.ip, port)),
		rwake: make(chan struct{}, 1),
		flows: make(map[netip.AddrPort]*flow),
	}
	h.udp[port] = pc
	h.mu.Unlock()
	n := h.net
	n.mu.Lock()
	closed := n.closed
	if !closed {
		n.packets[pc] = struct{}{}
	}
	n.mu.Unlock()
	if closed {
		pc.Close()
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: pc.laddr, Err: net.ErrClosed}
	}
	return pc, nil
}

// WriteTo sends one datagram to addr (a *net.UDPAddr, or any net.Addr
// whose String is "ip:port"). It never blocks. A datagram over
// Config.MaxDatagram fails with EMSGSIZE; one to an address with no host,
// or no socket at delivery, is lost without an error, as UDP's is.
func (c *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n := c.host.net
	ap, err := addrPort(addr)
	if err != nil {
		return 0, c.opErr("write", addr, err)
	}
	if len(b) > n.cfg.MaxDatagram {
		return 0, c.opErr("write", addr, wrapSys("sendto", syscall.EMSGSIZE))
	}
	if c.wdl.Passed() {
		return 0, c.opErr("write", addr, os.ErrDeadlineExceeded)
	}
	f, err := c.flow(ap)
	if err != nil {
		return 0, c.opErr("write", addr, err)
	}
	if f == nil {
		return len(b), nil // no such host: lost
	}
	if _, err := f.l.WriteTo(b, c.laddr); err != nil {
		return 0, c.opErr("write", addr, err)
	}
	return len(b), nil
}

// flow returns the link to ap, creating it; nil when no host has the
// address.
func (c *PacketConn) flow(ap netip.AddrPort) (*flow, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, net.ErrClosed
	}
	if f, ok := c.flows[ap]; ok {
		return f, nil
	}
	n := c.host.net
	dst, ok := n.lookup(c.host, ap.Addr().String())
	if !ok {
		return nil, nil
	}
	name := fmt.Sprintf("%s:%d->%s:%d/udp", c.host.name, c.port, dst.name, ap.Port())
	n.mu.Lock()
	cfg := n.cfg.linkConfig(name, uint8(faultconn.Out), n)
	p := toLink(n.profileLocked(c.host.name, dst.name))
	n.mu.Unlock()
	cfg.Packet = true
	cfg.Blocked = n.blockedFunc(c.host.name, dst.name)
	from := c.laddr
	port := ap.Port()
	cfg.Sink = func(b []byte, _ net.Addr) {
		if to := dst.packetConn(port); to != nil {
			to.enqueue(b, from)
		}
	}
	f := &flow{l: link.New(cfg, p), to: dst.name}
	c.flows[ap] = f
	return f, nil
}

// linksTo returns the outgoing links of c to host (for SetLink).
func (c *PacketConn) linksTo(host string) []*link.Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ls []*link.Link
	for _, f := range c.flows {
		if f.to == host {
			ls = append(ls, f.l)
		}
	}
	return ls
}

func (h *Host) packetConn(port uint16) *PacketConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.udp[port]
}

// enqueue takes a copy of a delivered datagram, or drops it when the
// receive queue is full.
func (c *PacketConn) enqueue(b []byte, from *net.UDPAddr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cost := len(b) + link.DatagramOverhead
	if c.closed || c.qbytes+cost > c.host.net.cfg.RecvQueue {
		c.dropped++
		return
	}
	c.queue = append(c.queue, datagram{b: append([]byte(nil), b...), from: from})
	c.qbytes += cost
	c.recvd++
	select {
	case c.rwake <- struct{}{}:
	default:
	}
}

// ReadFrom reads one datagram and its sender's *net.UDPAddr; a datagram
// longer than b is truncated. It blocks until a datagram, Close, or the
// read deadline.
func (c *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.closed {
			return 0, nil, c.opErr("read", nil, net.ErrClosed)
		}
		if c.rdl.Passed() {
			return 0, nil, c.opErr("read", nil, os.ErrDeadlineExceeded)
		}
		if len(c.queue) > 0 {
			d := c.queue[0]
			c.queue[0] = datagram{}
			c.queue = c.queue[1:]
			c.qbytes -= len(d.b) + link.DatagramOverhead
			if len(c.queue) > 0 {
				select {
				case c.rwake <- struct{}{}:
				default:
				}
			}
			return copy(b, d.b), d.from, nil
		}
		c.mu.Unlock()
		select {
		case <-c.rwake:
		case <-c.rdl.Wait():
		}
		c.mu.Lock()
	}
}

// Close closes the socket: blocked calls return net.ErrClosed, and
// datagrams in flight from it are lost. Close is idempotent.
func (c *PacketConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opErr("close", nil, net.ErrClosed)
	}
	c.closed = true
	flows := c.flows
	c.flows = nil
	c.queue = nil
	c.mu.Unlock()
	select {
	case c.rwake <- struct{}{}:
	default:
	}
	for _, f := range flows {
		f.l.Shutdown(net.ErrClosed)
	}
	h := c.host
	h.mu.Lock()
	if h.udp[c.port] == c {
		delete(h.udp, c.port)
	}
	h.mu.Unlock()
	n := h.net
	n.mu.Lock()
	delete(n.packets, c)
	n.mu.Unlock()
	return nil
}

// Stats returns the datagrams received and those the full receive queue
// dropped.
func (c *PacketConn) Stats() (received, dropped uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recvd, c.dropped
}

// LocalAddr returns the socket's *net.UDPAddr.
func (c *PacketConn) LocalAddr() net.Addr { return c.laddr }

// SetDeadline sets both deadlines.
func (c *PacketConn) SetDeadline(t time.Time) error {
	c.rdl.Set(t)
	c.wdl.Set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *PacketConn) SetReadDeadline(t time.Time) error { c.rdl.Set(t); return nil }

// SetWriteDeadline sets the write deadline.
func (c *PacketConn) SetWriteDeadline(t time.Time) error { c.wdl.Set(t); return nil }

func (c *PacketConn) opErr(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.laddr, Addr: addr, Err: err}
}

// addrPort converts a destination address.
func addrPort(a net.Addr) (netip.AddrPort, error) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	case nil:
		return netip.AddrPort{}, &net.AddrError{Err: "missing address"}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}, &net.AddrError{Err: "not an ip:port address", Addr: a.String()}
	}
	return ap, nil
}
