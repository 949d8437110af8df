package netsim

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/headwind-go/headwind/internal/link"
)

// Ephemeral ports are handed out from this range, in order, per host.
const (
	FirstEphemeralPort = 49152
	LastEphemeralPort  = 65535
)

// Linux's SYN retries: tcp_syn_retries = 6 retransmissions after the first
// SYN, 1s apart doubling, so a dial that is never answered fails 127s
// after it started.
const (
	synRetries  = 6
	synFirstRTO = time.Second
)

// Host is a named machine on a Network with one IPv4 address. It listens,
// dials and sends datagrams like the net package does on a real machine.
// A Host is safe for concurrent use.
type Host struct {
	net  *Network
	name string
	ip   netip.Addr
	err  error // the host's name was invalid: every call fails with err

	mu sync.Mutex // guards the fields below
	// tcp counts the users of each TCP port: a listener, the conns it
	// accepted (which share its port, even after it closed), or one
	// dial's conn. Ephemeral ports are only ever taken from unused ones.
	tcp map[uint16]int
	// served marks the ports in tcp whose users are a listener and its
	// accepted conns, never a dial: Listen may bind them again once no
	// listener is left, as Linux allows with SO_REUSEADDR (set by Go's
	// net.Listen) because accepted sockets inherit it.
	served   map[uint16]bool
	lns      map[uint16]*Listener
	udp      map[uint16]*PacketConn
	nextPort uint16
	down     bool            // crashed and not restarted
	paused   bool            // paused and not resumed
	crashed  chan struct{}   // closed when this incarnation crashes
	waiters  []chan struct{} // dials waiting for the pause to end, in the order they began waiting
	boots    int             // incarnations so far: 1 + restarts
}

func newHost(n *Network, name string, ip netip.Addr) *Host {
	return &Host{
		net:      n,
		name:     name,
		ip:       ip,
		tcp:      make(map[uint16]int),
		served:   make(map[uint16]bool),
		lns:      make(map[uint16]*Listener),
		udp:      make(map[uint16]*PacketConn),
		nextPort: FirstEphemeralPort,
		crashed:  make(chan struct{}),
		boots:    1,
	}
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// IP returns the host's address.
func (h *Host) IP() netip.Addr { return h.ip }

// Network returns the network the host is on.
func (h *Host) Network() *Network { return h.net }

// LookupHost resolves a host name (or an IP address, or "localhost") the
// way net.Resolver.LookupHost does, for code that resolves before it
// dials. An unknown name fails with a *net.DNSError whose IsNotFound is
// true.
func (h *Host) LookupHost(ctx context.Context, host string) ([]string, error) {
	if h.err != nil {
		return nil, h.err
	}
	if err := ctx.Err(); err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: host, IsTimeout: err == context.DeadlineExceeded}
	}
	t, ok := h.net.lookup(h, host)
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if host == "localhost" {
		return []string{"127.0.0.1"}, nil
	}
	return []string{t.ip.String()}, nil
}

// Listen announces on the host, like net.Listen: network is "tcp" or
// "tcp4", address is ":port", "host:port" or "ip:port" naming this host
// (or "localhost", or 0.0.0.0), and port 0 picks an ephemeral port. The
// listener queues at most Config.Backlog connections. A port with a live
// listener, or used by a dialed conn, fails with EADDRINUSE; as on Linux
// with Go's SO_REUSEADDR, conns accepted on a port do not keep a new
// listener from binding it after the old one closed.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	return h.ListenTCP(network, address)
}

// ListenTCP is Listen returning the *Listener.
func (h *Host) ListenTCP(network, address string) (*Listener, error) {
	port, err := h.localPort("listen", network, "tcp", address)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.down {
		err = syscall.ENETDOWN
	} else if port == 0 {
		port, err = h.ephemeralLocked(h.tcpUsed)
	} else if h.lns[port] != nil || h.tcp[port] > 0 && !h.served[port] {
		err = syscall.EADDRINUSE // a live listener, or a dial's conn
	}
	if err != nil {
		h.mu.Unlock()
		return nil, &net.OpError{Op: "listen", Net: "tcp", Source: nil, Addr: tcpAddr(netip.AddrPortFrom(h.ip, port)), Err: wrapSys("bind", err)}
	}
	l := newListener(h, port)
	h.tcp[port]++
	h.served[port] = true
	h.lns[port] = l
	h.mu.Unlock()
	h.net.mu.Lock()
	if h.net.closed {
		h.net.mu.Unlock()
		l.Close()
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
	h.net.lns[l] = struct{}{}
	h.net.mu.Unlock()
	return l, nil
}

// localPort checks a local address for Listen or ListenPacket.
func (h *Host) localPort(op, network, want, address string) (uint16, error) {
	if h.err != nil {
		return 0, h.err
	}
	if network != want && network != want+"4" {
		return 0, &net.OpError{Op: op, Net: network, Err: net.UnknownNetworkError(network)}
	}
	host, ps, err := net.SplitHostPort(address)
	if err != nil {
		return 0, &net.OpError{Op: op, Net: network, Err: err}
	}
	port, err := parsePort(ps)
	if err != nil {
		return 0, &net.OpError{Op: op, Net: network, Err: &net.AddrError{Err: err.Error(), Addr: address}}
	}
	if host != "" && host != "0.0.0.0" {
		if t, ok := h.net.lookup(h, host); !ok || t != h {
			return 0, &net.OpError{Op: op, Net: network, Err: &net.AddrError{Err: "cannot assign requested address: not an address of host " + h.name, Addr: address}}
		}
	}
	return port, nil
}

func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid port %q (0 to 65535)", s)
	}
	return uint16(p), nil
}

func (h *Host) tcpUsed(p uint16) bool { return h.tcp[p] > 0 }
func (h *Host) udpUsed(p uint16) bool { _, ok := h.udp[p]; return ok }

// ephemeralLocked picks the next free ephemeral port. h.mu held.
func (h *Host) ephemeralLocked(used func(uint16) bool) (uint16, error) {
	for range LastEphemeralPort - FirstEphemeralPort + 1 {
		p := h.nextPort
		if h.nextPort == LastEphemeralPort {
			h.nextPort = FirstEphemeralPort
		} else {
			h.nextPort++
		}
		if !used(p) {
			return p, nil
		}
	}
	return 0, syscall.EADDRNOTAVAIL
}

func (h *Host) releaseTCP(port uint16) {
	h.mu.Lock()
	if h.tcp[port]--; h.tcp[port] <= 0 {
		delete(h.tcp, port)
		delete(h.served, port)
	}
	h.mu.Unlock()
}

// Dial connects to address, like net.Dial. See DialContext.
func (h *Host) Dial(network, address string) (net.Conn, error) {
	return h.DialContext(context.Background(), network, address)
}

// DialContext connects to address ("host:port" or "ip:port") within ctx,
// like net.Dialer.DialContext; network is "tcp" or "tcp4". It returns a
// *Conn after one round trip. An unknown host fails with a *net.DNSError
// (IsNotFound), a host with nothing listening on the port with
// ECONNREFUSED. An attempt that goes unanswered (a partition, a full
// backlog) is retried 1s, 2s, 4s, … after the first, like Linux's SYN
// retries, and fails with ETIMEDOUT 127s after the dial started, unless ctx
// ends first. The handshake sees the links' Latency and partitions, not
// their jitter, loss or bandwidth (those apply to the data); the server's
// Accept can return the connection as soon as the SYN arrives, half a
// round trip before the dial returns.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := h.dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (h *Host) dial(ctx context.Context, network, address string) (*Conn, error) {
	n := h.net
	opErr := func(addr net.Addr, err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: addr, Err: err}
	}
	if h.err != nil {
		return nil, h.err
	}
	if network != "tcp" && network != "tcp4" {
		return nil, opErr(nil, net.UnknownNetworkError(network))
	}
	host, ps, err := net.SplitHostPort(address)
	if err != nil {
		return nil, opErr(nil, err)
	}
	port, err := parsePort(ps)
	if err != nil || port == 0 {
		return nil, opErr(nil, &net.AddrError{Err: "invalid port", Addr: address})
	}
	if host == "" {
		host = "localhost"
	}
	server, ok := n.lookup(h, host)
	if !ok {
		return nil, opErr(nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true})
	}
	dst := netip.AddrPortFrom(server.ip, port)
	raddr := tcpAddr(dst)

	h.mu.Lock()
	cport, err := h.ephemeralLocked(h.tcpUsed)
	if h.down {
		err = syscall.ENETDOWN
	}
	if err == nil {
		h.tcp[cport]++
	}
	crashed := h.crashed
	h.mu.Unlock()
	if err != nil {
		return nil, opErr(raddr, wrapSys("connect", err))
	}
	// The random streams are keyed without the client's ephemeral port,
	// which depends on what else the host dialed first, and lazily, at the
	// first write, so that dials at one instant are told apart by what they
	// carry rather than by which goroutine dialed first (see
	// link.Ordinals).
	lazy := n.dials.Next(fmt.Sprintf("%s->%s:%d", h.name, server.name, port), func(ord uint64) string {
		return linkName(h, server, cport, dst, ord)
	})
	n.mu.Lock()
	fwd := n.profileLocked(h.name, server.name)
	back := n.profileLocked(server.name, h.name)
	n.mu.Unlock()

	fail := func(err error) (*Conn, error) {
		h.releaseTCP(cport)
		return nil, opErr(raddr, err)
	}
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// waitUntil waits for t. When t comes at the very instant ctx ends or
	// the network closes, the order is fixed, not left to select: the
	// network's closing first, then the event, then ctx.
	waitUntil := func(t time.Time) error {
		timer.Reset(time.Until(t))
		select {
		case <-timer.C:
		case <-ctx.Done():
		case <-n.done:
		case <-crashed:
		}
		if n.isClosed() {
			return net.ErrClosed
		}
		if isDone(crashed) {
			return wrapSys("connect", syscall.ENETDOWN)
		}
		if !time.Now().Before(t) {
			return nil
		}
		return mapCtxErr(ctx.Err())
	}
	if n.isClosed() {
		return fail(net.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fail(mapCtxErr(err))
	}
	blocked := false // some attempt met a partition (an injected fault)
	for attempt := 0; ; attempt++ {
		if err := waitUntil(time.Now().Add(fwd.Latency)); err != nil {
			return fail(err)
		}
		if !n.waitResumed(ctx, crashed, h, server) {
			switch {
			case n.isClosed():
				return fail(net.ErrClosed)
			case isDone(crashed):
				return fail(wrapSys("connect", syscall.ENETDOWN))
			default:
				return fail(mapCtxErr(ctx.Err()))
			}
		}
		p := n.part.Load().at(time.Now())
		reachable := !p.blocked(h.name, server.name)
		blocked = blocked || !reachable
		if !reachable && p.mode == Reject && !p.down[server.name] && !p.down[h.name] {
			// An ICMP host unreachable comes back (a crashed host is
			// silent whatever the mode).
			if err := waitUntil(time.Now().Add(back.Latency)); err != nil {
				return fail(err)
			}
			return fail(wrapSys("connect", link.Injected(syscall.EHOSTUNREACH)))
		}
		if reachable {
			l := server.listener(port)
			if l == nil {
				if err := waitUntil(time.Now().Add(back.Latency)); err != nil {
					return fail(err)
				}
				return fail(wrapSys("connect", syscall.ECONNREFUSED))
			}
			c, s := n.newPair(h, server, cport, dst, lazy)
			if l.enqueue(s) {
				if err := waitUntil(time.Now().Add(back.Latency)); err != nil {
					c.abort()
					return nil, opErr(raddr, err)
				}
				return c, nil
			}
			c.discard(false) // the dial keeps its port for the next attempt
			s.discard(true)
		}
		next := start.Add(synFirstRTO * (1<<(attempt+1) - 1))
		if err := waitUntil(next); err != nil {
			return fail(err)
		}
		if attempt == synRetries {
			var err error = syscall.ETIMEDOUT // a full backlog: a limit, not a fault
			if blocked {
				err = link.Injected(syscall.ETIMEDOUT)
			}
			return fail(wrapSys("connect", err))
		}
	}
}

// listener returns the listener on port, or nil.
func (h *Host) listener(port uint16) *Listener {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lns[port]
}

func (h *Host) removeListener(l *Listener) {
	h.mu.Lock()
	if h.lns[l.port] == l {
		delete(h.lns, l.port)
	}
	h.mu.Unlock()
	h.releaseTCP(l.port)
}

// mapCtxErr maps a context's error the way the net package does: a
// deadline becomes an "i/o timeout" whose Timeout is true and which still
// matches context.DeadlineExceeded.
func mapCtxErr(err error) error {
	if err == context.DeadlineExceeded {
		return errTimeout{}
	}
	return err
}

// errTimeout mirrors the net package's own error for a dial whose context
// deadline passed ("i/o timeout", Timeout true, matching
// context.DeadlineExceeded), so callers can test it the same ways. It is
// the one error type netsim defines: the net package's is unexported.
type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }
func (errTimeout) Is(target error) bool {
	return target == context.DeadlineExceeded
}

// wrapSys wraps errno like the net package does: *os.SyscallError.
func wrapSys(call string, err error) error {
	return os.NewSyscallError(call, err)
}
