package netsim

import (
	"container/list"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/internal/link"
)

// PacketConn is a UDP socket on a host: a net.PacketConn with
// *net.UDPAddr addresses. Each datagram is sent whole over the flow from
// this socket to its destination address (never merged or split), with the
// profile of the pair of hosts, and queued at the receiving socket.
//
// Every datagram costs its payload plus link.DatagramOverhead (256) bytes,
// as a kernel charges each packet's buffer. Two limits bound what a socket
// holds, and both count what they turn away (see Stats):
//
//   - The receive queue takes a datagram while it holds at most
//     Config.RecvQueue bytes, and drops it otherwise. As on Linux ("always
//     allow at least a packet"), an empty queue takes a datagram of any
//     size, so no datagram is undeliverable because of its size alone, and
//     the queue holds at most RecvQueue plus one datagram.
//   - The datagrams in flight on one flow cost at most
//     max(Config.Window, Config.MaxDatagram+256) bytes, so one datagram of
//     MaxDatagram always fits, whatever the stream window; a datagram
//     beyond that is dropped at send (as a full qdisc drops it) and
//     counted in Stats().Out.Dropped.
//
// A socket keeps the flows of at most MaxFlows destinations; see MaxFlows
// for what happens beyond. A PacketConn has no goroutine of its own. It is
// safe for concurrent use.
type PacketConn struct {
	host  *Host
	port  uint16
	laddr *net.UDPAddr
	rwake chan struct{} // cap 1: the queue or the state changed
	rdl   link.Deadline
	wdl   link.Deadline

	unreachable atomic.Uint64 // datagrams sent to no host, or to no socket

	// mu guards the fields below. It is never held while calling into a
	// link: a link delivers with its own lock held and then takes the
	// receiving socket's mu (lock order: link, then PacketConn.mu, then
	// Network.mu).
	mu       sync.Mutex
	queue    []datagram
	qbytes   int
	closed   bool
	final    *PacketStats             // set once Close has summed the flows
	flows    map[netip.AddrPort]*flow // one outgoing link per destination
	lru      list.List                // of *flow, most recently written first
	retiring map[*link.Link]bool      // freed flows whose stats are not yet in freedOut; true: being added
	freed    uint64                   // flows freed so far: keys the streams of later flows
	freedOut faultconn.DirStats       // stats of freed flows
	dropped  uint64                   // datagrams dropped by a full receive queue
	recvd    uint64
}

// MaxFlows is how many destinations a PacketConn keeps a flow (a link with
// its own random stream) for. When a datagram goes to a new destination
// and the socket already has MaxFlows flows, the least recently used
// flows that have nothing in flight are freed, so memory does not grow
// with the number of distinct destinations: a socket holds at most
// MaxFlows flows plus those with datagrams in flight. (A flow passed over
// because it had datagrams in flight counts as used.)
//
// A flow's random stream is keyed by the seed, its name
// ("host:port->host:port/udp") and the number of flows the socket had
// freed when the flow was created. A socket that never wrote to more than
// MaxFlows destinations frees nothing, and the fates to each destination
// depend only on the datagrams written to it, as for stream conns. Once a
// socket frees flows, which ones it frees and the streams of the flows it
// creates after depend on the order of all its writes: still the same for
// the same sequence of writes, but no longer independent across
// destinations written concurrently. A destination whose flow was freed
// gets a fresh stream when it comes back; it does not replay its first
// fates.
const MaxFlows = 1024

type datagram struct {
	b    []byte
	from *net.UDPAddr
}

// flow is the link from this socket to one destination address. Its
// fields are guarded by the socket's mu.
type flow struct {
	l       *link.Link
	to      string // destination host
	ap      netip.AddrPort
	elem    *list.Element // in the socket's lru
	busy    time.Time     // the latest arrival of a datagram written on it
	writers int           // WriteTo calls using it now: it is not freed under them
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
	if h.down {
		err = syscall.ENETDOWN
	} else if port == 0 {
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
// Config.MaxDatagram fails with EMSGSIZE. One to an address with no host,
// or to no socket at delivery, is lost without an error, as UDP's is, and
// counted in Stats().Unreachable; one beyond the flow's in-flight limit is
// dropped and counted in Stats().Out.Dropped.
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
	c.foldRetiring()
	if err != nil {
		return 0, c.opErr("write", addr, err)
	}
	if f == nil {
		c.unreachable.Add(1) // no such host: lost
		return len(b), nil
	}
	_, err = f.l.WriteTo(b, c.laddr)
	last := f.l.LastArrival()
	c.mu.Lock()
	f.writers--
	if last.After(f.busy) {
		f.busy = last
	}
	c.mu.Unlock()
	if err != nil {
		return 0, c.opErr("write", addr, err)
	}
	return len(b), nil
}

// flow returns the link to ap, creating it (and freeing idle flows beyond
// MaxFlows first), with its writers count raised; nil when no host has the
// address.
func (c *PacketConn) flow(ap netip.AddrPort) (*flow, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, net.ErrClosed
	}
	if f, ok := c.flows[ap]; ok {
		c.lru.MoveToFront(f.elem)
		f.writers++
		return f, nil
	}
	n := c.host.net
	dst, ok := n.lookup(c.host, ap.Addr().String())
	if !ok {
		return nil, nil
	}
	c.freeIdleLocked(MaxFlows - 1)
	name := fmt.Sprintf("%s:%d->%s:%d/udp", c.host.name, c.port, dst.name, ap.Port())
	n.mu.Lock()
	cfg := n.cfg.linkConfig(name, uint8(faultconn.Out), n)
	p := link.Convert(n.profileLocked(c.host.name, dst.name))
	n.mu.Unlock()
	if c.freed > 0 {
		cfg.Key = fmt.Sprintf("%s#%d", name, c.freed) // see MaxFlows
	}
	cfg.Packet = true
	cfg.Window = flowWindow(n.cfg)
	cfg.Blocked = n.blockedFunc(c.host.name, dst.name)
	cfg.Held = n.heldFunc(c.host.name, dst.name)
	from := c.laddr
	port := ap.Port()
	cfg.Sink = func(b []byte, _ net.Addr) {
		if to := dst.packetConn(port); to != nil {
			to.enqueue(b, from)
		} else {
			c.unreachable.Add(1)
		}
	}
	f := &flow{l: link.New(cfg, p), to: dst.name, ap: ap, writers: 1}
	f.elem = c.lru.PushFront(f)
	c.flows[ap] = f
	return f, nil
}

// freeIdleLocked frees the least recently used flows that have nothing
// in flight and no writer until at most keep flows are left. A busy flow
// it meets goes to the front, as if just used, and it gives up after
// maxBusySkips of them, so that a crowd of busy flows costs each call a
// bounded scan (they are freed by later calls, once idle). c.mu held; the
// freed links go to c.retiring, for foldRetiring.
func (c *PacketConn) freeIdleLocked(keep int) {
	const maxBusySkips = 8
	now := time.Now()
	skips := 0
	for e := c.lru.Back(); e != nil && len(c.flows) > keep && skips < maxBusySkips; {
		f := e.Value.(*flow)
		e = e.Prev()
		if f.writers > 0 || now.Before(f.busy) {
			c.lru.MoveToFront(f.elem)
			skips++
			continue
		}
		c.lru.Remove(f.elem)
		delete(c.flows, f.ap)
		if c.retiring == nil {
			c.retiring = make(map[*link.Link]bool)
		}
		c.retiring[f.l] = false
		c.freed++
	}
}

// foldRetiring adds the stats of freed flows to c.freedOut. It takes the
// links' stats without c.mu (see PacketConn.mu); a link stays in
// c.retiring until its stats are in c.freedOut, so Stats counts every
// link once whenever c.mu is free.
func (c *PacketConn) foldRetiring() {
	c.mu.Lock()
	var ls []*link.Link
	for l, claimed := range c.retiring {
		if !claimed {
			c.retiring[l] = true
			ls = append(ls, l)
		}
	}
	c.mu.Unlock()
	if len(ls) == 0 {
		return
	}
	st := make([]link.Stats, len(ls))
	for i, l := range ls {
		st[i] = l.Stats()
	}
	c.mu.Lock()
	for i, l := range ls {
		addDir(&c.freedOut, faultconn.DirStats(st[i]))
		delete(c.retiring, l)
	}
	c.mu.Unlock()
}

// flowWindow is the most bytes the datagrams in flight on one flow cost:
// the stream window, but never less than one datagram of MaxDatagram.
func flowWindow(cfg Config) int {
	return max(cfg.Window, cfg.MaxDatagram+link.DatagramOverhead)
}

// linksTo returns the outgoing links of c to host (for SetLink).
// links returns the links of the flows to the hosts keep accepts.
func (c *PacketConn) links(keep func(to string) bool) []*link.Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ls []*link.Link
	for _, f := range c.flows {
		if keep(f.to) {
			ls = append(ls, f.l)
		}
	}
	return ls
}

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
// receive queue holds more than Config.RecvQueue bytes. Like Linux's
// __udp_enqueue_schedule_skb, it looks at what the queue holds before the
// datagram, so an empty queue takes a datagram of any size.
func (c *PacketConn) enqueue(b []byte, from *net.UDPAddr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.qbytes > c.host.net.cfg.RecvQueue {
		c.dropped++
		return
	}
	c.queue = append(c.queue, datagram{b: append([]byte(nil), b...), from: from})
	c.qbytes += len(b) + link.DatagramOverhead
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
	links := make([]*link.Link, 0, len(c.flows)+len(c.retiring))
	for e := c.lru.Front(); e != nil; e = e.Next() {
		links = append(links, e.Value.(*flow).l)
	}
	for l := range c.retiring {
		links = append(links, l)
	}
	out := c.freedOut
	c.queue = nil
	c.qbytes = 0
	c.mu.Unlock()
	select {
	case c.rwake <- struct{}{}:
	default:
	}
	for _, l := range links {
		l.Shutdown(net.ErrClosed)
		addDir(&out, faultconn.DirStats(l.Stats()))
	}
	c.mu.Lock()
	st := PacketStats{Out: out, Received: c.recvd, RecvDropped: c.dropped, Unreachable: c.unreachable.Load()}
	c.final = &st
	c.flows = nil
	c.lru.Init()
	c.retiring = nil
	c.mu.Unlock()

	h := c.host
	h.mu.Lock()
	if h.udp[c.port] == c {
		delete(h.udp, c.port)
	}
	h.mu.Unlock()
	n := h.net
	n.mu.Lock()
	if _, ok := n.packets[c]; ok {
		delete(n.packets, c)
		n.total.add(link.Stats(st.Out))
		addPacketStats(&n.udpTotal, st)
	}
	n.mu.Unlock()
	return nil
}

// Stats returns what has happened to the socket's datagrams so far, over
// every flow it has had; after Close, what had happened when it closed.
func (c *PacketConn) Stats() PacketStats {
	c.mu.Lock()
	if c.final != nil {
		st := *c.final
		c.mu.Unlock()
		return st
	}
	links := make([]*link.Link, 0, len(c.flows)+len(c.retiring))
	for e := c.lru.Front(); e != nil; e = e.Next() {
		links = append(links, e.Value.(*flow).l)
	}
	for l := range c.retiring {
		links = append(links, l)
	}
	st := PacketStats{Out: c.freedOut, Received: c.recvd, RecvDropped: c.dropped, Flows: len(c.flows)}
	c.mu.Unlock()
	for _, l := range links {
		addDir(&st.Out, faultconn.DirStats(l.Stats()))
	}
	st.Unreachable = c.unreachable.Load()
	return st
}

// String describes the socket for failure reports: its flows, what they
// sent and what waits in its receive queue.
func (c *PacketConn) String() string {
	st := c.Stats()
	c.mu.Lock()
	queued, qbytes, closed := len(c.queue), c.qbytes, c.closed
	c.mu.Unlock()
	state := "open"
	if closed {
		state = "closed"
	}
	return fmt.Sprintf("%s:%d %v %s, %d flows; out: %d sent, %d delivered, %d lost, %d dropped, %d unreachable; in: %d received, %d dropped, %d queued (%dB)",
		c.host.name, c.port, c.laddr, state, st.Flows, st.Out.Segments, st.Out.Delivered, st.Out.Lost, st.Out.Dropped, st.Unreachable,
		st.Received, st.RecvDropped, queued, qbytes)
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
