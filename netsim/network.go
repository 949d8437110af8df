package netsim

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/internal/link"
)

// Defaults of the explicit limits, used where Config leaves them zero.
const (
	DefaultBacklog     = 128       // listener accept queue
	DefaultMaxDatagram = 65507     // largest UDP payload over IPv4
	DefaultRecvQueue   = 256 << 10 // packet socket receive queue, bytes
	DefaultWindow      = faultconn.DefaultWindow
)

// Config describes a Network. The zero value is a perfect network with the
// default limits.
type Config struct {
	// Seed seeds every link's random stream, with the link's name and
	// direction. Zero is a real seed like any other.
	Seed uint64
	// Default is the profile of every direction between two hosts that
	// SetLink has not set. The zero value is a perfect link.
	Default faultconn.Profile
	// Mode is what faults mean on stream conns; the zero value is Stream
	// (TCP-faithful). Packet conns always see datagram faults.
	Mode faultconn.Mode
	// Window is the most bytes in flight plus unread per direction of a
	// stream conn; a writer beyond it blocks. It also bounds the datagrams
	// in flight on each packet flow, but never below one datagram of
	// MaxDatagram (see PacketConn). Zero means DefaultWindow.
	Window int
	// Backlog is how many connections a listener queues before Accept takes
	// them; beyond it, connection attempts go unanswered and the dialer
	// retries like Linux's SYN retries. Zero means DefaultBacklog.
	Backlog int
	// MaxDatagram is the largest datagram a packet conn sends; a larger
	// one fails with EMSGSIZE. Zero means DefaultMaxDatagram.
	MaxDatagram int
	// RecvQueue is the size in bytes of each packet conn's receive queue,
	// each datagram costing its payload plus 256. As on Linux, a datagram
	// that arrives while the queue holds more than RecvQueue bytes is
	// dropped and counted (PacketConn.Stats), and an empty queue takes a
	// datagram of any size. Zero means DefaultRecvQueue.
	RecvQueue int
	// Trace, when not nil, records every segment's fate on every link.
	Trace *faultconn.Trace
}

// Validate reports every problem of c in one error, each naming the field,
// the value and the valid range.
func (c Config) Validate() error {
	var errs []error
	if err := c.Default.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("netsim: Default: %w", err))
	}
	if c.Mode != faultconn.Stream && c.Mode != faultconn.Segments {
		errs = append(errs, fmt.Errorf("netsim: Mode %d out of range [0,1] (Stream, Segments)", int(c.Mode)))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"Window", c.Window}, {"Backlog", c.Backlog}, {"MaxDatagram", c.MaxDatagram}, {"RecvQueue", c.RecvQueue}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("netsim: %s %d out of range [0,∞) (0 means the default)", f.name, f.v))
		}
	}
	if c.Window > faultconn.MaxWindow {
		errs = append(errs, fmt.Errorf("netsim: Window %d out of range [0,%d] (0 means the default)", c.Window, faultconn.MaxWindow))
	}
	if c.MaxDatagram > 65535 {
		errs = append(errs, fmt.Errorf("netsim: MaxDatagram %d out of range [0,65535]", c.MaxDatagram))
	}
	return errors.Join(errs...)
}

// Network is an in-memory network of named hosts. Hosts listen, dial and
// send datagrams to each other over links whose faults are
// faultconn.Profiles, one per direction between two hosts. A Network is
// safe for concurrent use.
type Network struct {
	cfg  Config
	done chan struct{} // closed by Close

	part   atomic.Pointer[partition] // read by links at every arrival
	partMu sync.Mutex                // serializes changes of part

	mu       sync.Mutex // guards the fields below
	closed   bool
	hosts    map[string]*Host
	byIP     map[netip.Addr]*Host
	nextIP   netip.Addr
	links    map[pair]faultconn.Profile // set by SetLink
	conns    map[*Conn]struct{}         // open stream conns (both ends)
	packets  map[*PacketConn]struct{}
	lns      map[*Listener]struct{}
	ghosts   map[*Host][]*Conn // ends of crashed hosts, revived by Restart
	dials    link.Ordinals     // per (client host, server address): dial ordinals and stream keys
	total    linkTotals        // stats of closed conns and closed packet conns' flows
	udpTotal PacketStats       // stats of closed packet conns
}

type pair struct{ from, to string }

// linkTotals sums the stats of closed conns' links.
type linkTotals struct{ sum link.Stats }

func (t *linkTotals) add(s link.Stats) {
	t.sum.Segments += s.Segments
	t.sum.Bytes += s.Bytes
	t.sum.Delivered += s.Delivered
	t.sum.Lost += s.Lost
	t.sum.Duplicated += s.Duplicated
	t.sum.Reordered += s.Reordered
	t.sum.Corrupted += s.Corrupted
	t.sum.Retransmitted += s.Retransmitted
	t.sum.Resets += s.Resets
	t.sum.Dropped += s.Dropped
}

// New returns a network with no hosts. It fails, naming the field, when cfg
// is invalid.
func New(cfg Config) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Backlog == 0 {
		cfg.Backlog = DefaultBacklog
	}
	if cfg.MaxDatagram == 0 {
		cfg.MaxDatagram = DefaultMaxDatagram
	}
	if cfg.RecvQueue == 0 {
		cfg.RecvQueue = DefaultRecvQueue
	}
	n := &Network{
		cfg:     cfg,
		done:    make(chan struct{}),
		hosts:   make(map[string]*Host),
		byIP:    make(map[netip.Addr]*Host),
		nextIP:  netip.MustParseAddr("198.18.0.1"),
		links:   make(map[pair]faultconn.Profile),
		conns:   make(map[*Conn]struct{}),
		packets: make(map[*PacketConn]struct{}),
		lns:     make(map[*Listener]struct{}),
	}
	n.part.Store(&partition{})
	return n, nil
}

// Config returns the network's configuration, with defaults filled in.
func (n *Network) Config() Config { return n.cfg }

// Host returns the host called name, creating it with the next free
// address of 198.18.0.0/15 (198.18.0.1, 198.18.0.2, … in creation order)
// if it does not exist. A name must be a valid DNS label: 1 to 63 letters,
// digits and hyphens, not starting or ending with a hyphen. A host made
// from an invalid name exists only to report that: its Listen, Dial and
// ListenPacket fail with an error naming it.
func (n *Network) Host(name string) *Host {
	h, err := n.AddHost(name, netip.Addr{})
	if err != nil {
		return &Host{net: n, name: name, err: err}
	}
	return h
}

// AddHost creates the host called name with address ip, or with the next
// free address when ip is the zero Addr. It fails if the name is not a
// valid DNS label, if ip is not an IPv4 address, or if the name or the
// address is taken (AddHost of an existing host with the zero Addr returns
// it).
func (n *Network) AddHost(name string, ip netip.Addr) (*Host, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	key := strings.ToLower(name)
	if h, ok := n.hosts[key]; ok {
		if ip.IsValid() && ip != h.ip {
			return nil, fmt.Errorf("netsim: host %q already exists with address %v", name, h.ip)
		}
		return h, nil
	}
	if ip.IsValid() {
		if !ip.Is4() || ip.IsLoopback() || ip.IsUnspecified() {
			return nil, fmt.Errorf("netsim: host %q: address %v out of range (a unicast IPv4 address, not loopback)", name, ip)
		}
		if other, ok := n.byIP[ip]; ok {
			return nil, fmt.Errorf("netsim: host %q: address %v is taken by host %q", name, ip, other.name)
		}
	} else {
		for {
			ip = n.nextIP
			n.nextIP = n.nextIP.Next()
			if _, taken := n.byIP[ip]; !taken {
				break
			}
		}
		if !netip.MustParsePrefix("198.18.0.0/15").Contains(ip) {
			return nil, fmt.Errorf("netsim: host %q: 198.18.0.0/15 has no free address left", name)
		}
	}
	h := newHost(n, key, ip)
	n.hosts[key] = h
	n.byIP[ip] = h
	return h, nil
}

// Hosts returns the names of all hosts, sorted.
func (n *Network) Hosts() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	names := make([]string, 0, len(n.hosts))
	for name := range n.hosts {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func validName(name string) error {
	bad := len(name) == 0 || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-'
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			bad = true
		}
	}
	if bad || name == "localhost" {
		return fmt.Errorf("netsim: host name %q is not a valid DNS label (1-63 letters, digits and hyphens, no leading or trailing hyphen, not localhost)", name)
	}
	return nil
}

// lookup finds a host by name or address; "localhost" and loopback
// addresses mean self.
func (n *Network) lookup(self *Host, host string) (*Host, bool) {
	if host == "localhost" {
		return self, true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if ip.IsLoopback() {
			return self, true
		}
		h, ok := n.byIP[ip]
		return h, ok
	}
	h, ok := n.hosts[strings.ToLower(host)]
	return h, ok
}

// SetLink sets the profile of the direction from one host to another
// (which need not exist yet); existing connections use it from their next
// segment. It fails, naming the field, on an invalid profile or host name.
func (n *Network) SetLink(from, to string, p faultconn.Profile) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("netsim: SetLink(%q, %q): %w", from, to, err)
	}
	for _, h := range []string{from, to} {
		if err := validName(h); err != nil {
			return fmt.Errorf("netsim: SetLink(%q, %q): %w", from, to, err)
		}
	}
	from, to = strings.ToLower(from), strings.ToLower(to)
	n.mu.Lock()
	n.links[pair{from, to}] = p
	var update []*link.Link
	for c := range n.conns {
		if c.local.name == from && c.remote.name == to {
			update = append(update, c.tx)
		}
	}
	var pcs []*PacketConn
	for pc := range n.packets {
		if pc.host.name == from {
			pcs = append(pcs, pc)
		}
	}
	n.mu.Unlock()
	for _, pc := range pcs {
		update = append(update, pc.linksTo(to)...)
	}
	lp := link.Convert(p)
	for _, l := range update {
		l.SetProfile(lp)
	}
	return nil
}

// Link returns the profile of the direction from one host to another.
func (n *Network) Link(from, to string) faultconn.Profile {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.profileLocked(strings.ToLower(from), strings.ToLower(to))
}

func (n *Network) profileLocked(from, to string) faultconn.Profile {
	if from == to {
		return faultconn.Profile{} // loopback has no faults
	}
	if p, ok := n.links[pair{from, to}]; ok {
		return p
	}
	return n.cfg.Default
}

// Close tears the whole network down at once: every listener, conn and
// packet conn is closed, every blocked call returns (with net.ErrClosed),
// dials in progress fail, and nothing is delivered any more. It leaves no
// goroutine behind. Close is idempotent.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	close(n.done)
	conns := make([]*Conn, 0, len(n.conns))
	for c := range n.conns {
		conns = append(conns, c)
	}
	lns := make([]*Listener, 0, len(n.lns))
	for l := range n.lns {
		lns = append(lns, l)
	}
	pcs := make([]*PacketConn, 0, len(n.packets))
	for pc := range n.packets {
		pcs = append(pcs, pc)
	}
	n.mu.Unlock()
	for _, l := range lns {
		l.Close()
	}
	for _, c := range conns {
		c.shutdown()
	}
	for _, pc := range pcs {
		pc.Close()
	}
	return nil
}

// Done returns a channel that is closed when the network is closed.
func (n *Network) Done() <-chan struct{} { return n.done }

func (n *Network) isClosed() bool { return isDone(n.done) }

// isDone reports whether c is closed.
func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// linkName is the stable name of a stream conn's links.
func linkName(client, server *Host, cport uint16, saddr netip.AddrPort, ord uint64) string {
	return fmt.Sprintf("%s:%d->%s:%d#%d", client.name, cport, server.name, saddr.Port(), ord)
}

// traceSink adapts the network's trace to the engine (through faultconn's
// hook: the trace's Add is not public).
func (n *Network) traceSink() func(link.Event) {
	return link.TraceSink(n.cfg.Trace)
}

// tcpAddr and udpAddr return the address of ip:port.
func tcpAddr(ap netip.AddrPort) *net.TCPAddr { return net.TCPAddrFromAddrPort(ap) }
func udpAddr(ap netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(ap) }
