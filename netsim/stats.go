package netsim

import (
	"fmt"
	"sort"
	"strings"

	"github.com/headwind-go/headwind/faultconn"
)

// Stats is a snapshot of what happened on a network's stream conns and
// packet conns.
type Stats struct {
	// Links holds the stats of every open connection by link name: Out is
	// the client-to-server direction, In the server-to-client one.
	Links map[string]faultconn.Stats
	// Packets holds the stats of every open packet conn by its local
	// address, "host:port".
	Packets map[string]PacketStats
	// Total sums every direction of every connection and every datagram
	// flow, open or closed: Segments counts stream segments and datagrams
	// alike.
	Total faultconn.DirStats
	// PacketTotal sums every packet conn, open or closed; its Flows counts
	// the flows the open ones hold now.
	PacketTotal PacketStats
}

// PacketStats counts what happened to one packet conn's datagrams (or, in
// Stats.PacketTotal, to all of them).
type PacketStats struct {
	// Out sums the socket's flows, every destination, including freed
	// flows: Segments and Bytes are the datagrams written, Delivered those
	// that reached the destination host, Lost, Duplicated, Reordered and
	// Corrupted as drawn, and Dropped those turned away at send because
	// the flow's datagrams in flight were at their limit (Linux counts
	// those in SndbufErrors).
	Out faultconn.DirStats
	// Unreachable counts datagrams sent to an address no host has, or
	// delivered to a host with no socket on the port (Linux answers those
	// with an ICMP port unreachable and counts NoPorts). They are lost
	// without an error, as UDP's are.
	Unreachable uint64
	// Received counts datagrams queued at this socket for ReadFrom.
	Received uint64
	// RecvDropped counts datagrams that reached this socket while its
	// queue held more than Config.RecvQueue bytes (Linux: RcvbufErrors,
	// and the socket's drops in /proc/net/udp).
	RecvDropped uint64
	// Flows is how many destinations the socket holds a flow for now
	// (see MaxFlows); zero after Close.
	Flows int
}

func addPacketStats(t *PacketStats, s PacketStats) {
	addDir(&t.Out, s.Out)
	t.Unreachable += s.Unreachable
	t.Received += s.Received
	t.RecvDropped += s.RecvDropped
	t.Flows += s.Flows
}

// Stats returns the stats of every open connection and packet conn, and
// the totals.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	conns := n.openConnsLocked()
	pcs := n.openPacketsLocked()
	total := faultconn.DirStats(n.total.sum)
	ptotal := n.udpTotal
	n.mu.Unlock()
	st := Stats{Links: make(map[string]faultconn.Stats), Packets: make(map[string]PacketStats)}
	for _, c := range conns {
		s := c.Stats()
		if c.isClient() {
			st.Links[c.Name()] = s
		} else if _, ok := st.Links[c.Name()]; !ok {
			st.Links[c.Name()] = faultconn.Stats{Out: s.In, In: s.Out}
		}
		addDir(&total, s.Out) // each end counts its own Out: every direction once
	}
	for _, pc := range pcs {
		s := pc.Stats()
		st.Packets[fmt.Sprintf("%s:%d", pc.host.name, pc.port)] = s
		addDir(&total, s.Out)
		addPacketStats(&ptotal, s)
	}
	st.Total = total
	st.PacketTotal = ptotal
	return st
}

func addDir(t *faultconn.DirStats, s faultconn.DirStats) {
	t.Segments += s.Segments
	t.Bytes += s.Bytes
	t.Delivered += s.Delivered
	t.Lost += s.Lost
	t.Duplicated += s.Duplicated
	t.Reordered += s.Reordered
	t.Corrupted += s.Corrupted
	t.Retransmitted += s.Retransmitted
	t.Resets += s.Resets
	t.Dropped += s.Dropped
}

func (n *Network) openConnsLocked() []*Conn {
	conns := make([]*Conn, 0, len(n.conns))
	for c := range n.conns {
		conns = append(conns, c)
	}
	sort.Slice(conns, func(i, j int) bool {
		if conns[i].Name() != conns[j].Name() {
			return conns[i].Name() < conns[j].Name()
		}
		return conns[i].isClient() && !conns[j].isClient()
	})
	return conns
}

func (c *Conn) isClient() bool { return c.client }

func (n *Network) openPacketsLocked() []*PacketConn {
	pcs := make([]*PacketConn, 0, len(n.packets))
	for pc := range n.packets {
		pcs = append(pcs, pc)
	}
	sort.Slice(pcs, func(i, j int) bool {
		if pcs[i].host.name != pcs[j].host.name {
			return pcs[i].host.name < pcs[j].host.name
		}
		return pcs[i].port < pcs[j].port
	})
	return pcs
}

// Dump describes the network for a failure report: the hosts, the links
// that SetLink changed, the partition, and every open connection with the
// bytes and segments held in each direction, and every open packet conn
// with its flows, what they sent and what its receive queue holds.
func (n *Network) Dump() string {
	var b strings.Builder
	n.mu.Lock()
	fmt.Fprintf(&b, "netsim: seed %d, default profile %v, mode %v\n", n.cfg.Seed, n.cfg.Default, n.cfg.Mode)
	names := make([]string, 0, len(n.hosts))
	for name := range n.hosts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&b, "host %s %v\n", name, n.hosts[name].ip)
	}
	pairs := make([]pair, 0, len(n.links))
	for p := range n.links {
		pairs = append(pairs, p)
	}
	sort.Slice(pairs, func(i, j int) bool {
		return pairs[i].from+"\x00"+pairs[i].to < pairs[j].from+"\x00"+pairs[j].to
	})
	for _, p := range pairs {
		fmt.Fprintf(&b, "link %s->%s %v\n", p.from, p.to, n.links[p])
	}
	conns := n.openConnsLocked()
	pcs := n.openPacketsLocked()
	n.mu.Unlock()
	if part := n.part.Load(); len(part.group) > 0 || len(part.isolated) > 0 {
		fmt.Fprintf(&b, "partition %s\n", part)
	}
	for _, c := range conns {
		fmt.Fprintf(&b, "conn %s\n", c)
	}
	for _, pc := range pcs {
		fmt.Fprintf(&b, "udp %s\n", pc)
	}
	return b.String()
}
