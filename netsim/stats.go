package netsim

import (
	"fmt"
	"sort"
	"strings"

	"github.com/headwind-go/headwind/faultconn"
)

// Stats is a snapshot of what happened on a network's stream conns.
type Stats struct {
	// Links holds the stats of every open connection by link name: Out is
	// the client-to-server direction, In the server-to-client one.
	Links map[string]faultconn.Stats
	// Total sums every direction of every connection, open or closed.
	Total faultconn.DirStats
}

// Stats returns the stats of every open connection and the total.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	conns := n.openConnsLocked()
	total := faultconn.DirStats(n.total.sum)
	n.mu.Unlock()
	st := Stats{Links: make(map[string]faultconn.Stats)}
	for _, c := range conns {
		s := c.Stats()
		if c.isClient() {
			st.Links[c.name] = s
		} else if _, ok := st.Links[c.name]; !ok {
			st.Links[c.name] = faultconn.Stats{Out: s.In, In: s.Out}
		}
		addDir(&total, s.Out) // each end counts its own Out: every direction once
	}
	st.Total = total
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
		if conns[i].name != conns[j].name {
			return conns[i].name < conns[j].name
		}
		return conns[i].isClient() && !conns[j].isClient()
	})
	return conns
}

func (c *Conn) isClient() bool { return c.client }

// Dump describes the network for a failure report: the hosts, the links
// that SetLink changed, the partition, and every open connection with the
// bytes and segments held in each direction.
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
	n.mu.Unlock()
	if part := n.part.Load(); len(part.group) > 0 || len(part.isolated) > 0 {
		fmt.Fprintf(&b, "partition %s\n", part)
	}
	for _, c := range conns {
		fmt.Fprintf(&b, "conn %s\n", c)
	}
	return b.String()
}
