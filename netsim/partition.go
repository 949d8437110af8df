package netsim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// partition is an immutable snapshot of who cannot reach whom, in force
// from since; links read it at every arrival through Network.part.
//
// A change made at instant t applies to arrivals after t: an arrival due
// at exactly t sees the state before it, whichever goroutine the runtime
// happens to run first. prev keeps the states before, so that this holds
// even when an arrival is handled after the change.
type partition struct {
	group    map[string]int  // host -> group number, from 1; absent: in no group
	isolated map[string]bool // hosts cut off from every other host
	down     map[string]bool // crashed hosts: nothing reaches them
	paused   map[string]bool // paused hosts: traffic to and from them is held
	mode     PartitionMode
	since    time.Time
	prev     *partition
}

// with returns a copy of p for a change: the maps are shared, and a change
// replaces a map rather than writing to it (snapshots are immutable).
func (p *partition) with() *partition {
	return &partition{group: p.group, isolated: p.isolated, down: p.down, paused: p.paused, mode: p.mode}
}

// toggled returns a copy of m with host set to on.
func toggled(m map[string]bool, host string, on bool) map[string]bool {
	c := make(map[string]bool, len(m)+1)
	for h := range m {
		c[h] = true
	}
	if on {
		c[host] = true
	} else {
		delete(c, host)
	}
	return c
}

// historyDepth bounds the chain of earlier partition states kept: an
// arrival older than the last eight changes sees the oldest kept state
// (eight changes within one segment's flight time are beyond what the
// nemesis and tests do).
const historyDepth = 8

// at returns the state in force for an arrival at t.
func (p *partition) at(t time.Time) *partition {
	for p.prev != nil && !p.since.Before(t) {
		p = p.prev
	}
	return p
}

// setPartition makes the state change makes of the current one the state
// from now on.
func (n *Network) setPartition(change func(old *partition) *partition) {
	n.setPartitionSince(time.Now(), change)
}

// setPartitionSince is setPartition for arrivals after since.
func (n *Network) setPartitionSince(since time.Time, change func(old *partition) *partition) {
	n.partMu.Lock()
	defer n.partMu.Unlock()
	p := change(n.part.Load())
	p.since = since
	p.prev = n.part.Load()
	q := p
	for i := 0; q.prev != nil; i++ {
		if i == historyDepth {
			q.prev = nil // see historyDepth
			break
		}
		next := *q.prev
		q.prev = &next
		q = &next
	}
	n.part.Store(p)
}

// blocked reports whether from cannot reach to.
func (p *partition) blocked(from, to string) bool {
	if from == to || len(p.group)+len(p.isolated)+len(p.down) == 0 {
		return false
	}
	if p.isolated[from] || p.isolated[to] || p.down[from] || p.down[to] {
		return true
	}
	gf, gt := p.group[from], p.group[to]
	return gf != 0 && gt != 0 && gf != gt
}

// Partition splits the network: hosts in different groups cannot reach
// each other, in either direction, until Heal or the next Partition, which
// replaces this one. Hosts named in no group still reach everyone. Isolated
// hosts stay isolated.
//
// What a partition does to traffic is what a real one does: in Stream mode
// segments in flight and new ones are lost and retransmitted on the RTO
// schedule, so connections stall and, if the partition outlasts the
// retransmissions (924.6s at the minimum timeout), fail with ETIMEDOUT;
// datagrams are dropped; dials go unanswered, retry like Linux's SYN
// retries and time out after 127s.
//
// A change made at virtual instant t applies to traffic that arrives after
// t; what arrives at t itself still sees the state before. (Events at one
// instant run in an order the Go scheduler picks; this rule keeps a
// partition's effect the same on every replay. With zero latency, a dial
// made at the very instant of a Partition still gets through.)
func (n *Network) Partition(groups ...[]string) {
	n.setPartition(func(old *partition) *partition {
		p := old.with()
		p.group = make(map[string]int)
		for i, g := range groups {
			for _, h := range g {
				p.group[strings.ToLower(h)] = i + 1
			}
		}
		return p
	})
}

// Isolate cuts host off from every other host until Heal.
func (n *Network) Isolate(host string) {
	n.setPartition(func(old *partition) *partition {
		p := old.with()
		p.isolated = toggled(old.isolated, strings.ToLower(host), true)
		return p
	})
}

// Heal ends every partition and isolation: from now on, every transmission
// gets through (stalled connections recover at their next retransmission).
// Crashed and paused hosts stay so, and the partition mode stays.
func (n *Network) Heal() {
	n.setPartition(func(old *partition) *partition {
		return &partition{down: old.down, paused: old.paused, mode: old.mode}
	})
}

// PartitionMode is what a partition does to a dial that cannot get
// through. The zero value is Drop.
type PartitionMode int

const (
	// Drop is silence: the dial's SYNs go unanswered, it retries like
	// Linux's SYN retries and fails with ETIMEDOUT after 127s.
	Drop PartitionMode = iota
	// Reject is an ICMP host unreachable from a router: the dial fails
	// with EHOSTUNREACH one round trip (the links' Latency there and back)
	// after it started. Libraries that hold a lock across a dial need
	// this one to get on. Established connections see the same silence
	// as under Drop.
	Reject
)

// String returns "drop" or "reject".
func (m PartitionMode) String() string {
	switch m {
	case Drop:
		return "drop"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("PartitionMode(%d)", int(m))
}

// SetPartitionMode sets what partitions and isolations, the ones in force
// and later ones, do to dials; the zero mode is Drop. Like Partition, it
// applies to what arrives after this instant. An unknown mode is an error.
func (n *Network) SetPartitionMode(m PartitionMode) error {
	if m != Drop && m != Reject {
		return fmt.Errorf("netsim: PartitionMode %d out of range (Drop or Reject)", int(m))
	}
	n.setPartition(func(old *partition) *partition {
		p := old.with()
		p.mode = m
		return p
	})
	return nil
}

// Reachable reports whether from can reach to under the latest Partition,
// Isolate or Heal. (Traffic sees a change from the instant after it was
// made.)
func (n *Network) Reachable(from, to string) bool {
	return !n.part.Load().blocked(strings.ToLower(from), strings.ToLower(to))
}

// reachableAt reports whether something arriving at t gets from from to to.
func (n *Network) reachableAt(from, to string, t time.Time) bool {
	return !n.part.Load().at(t).blocked(from, to)
}

// blockedFunc returns the partition check of the direction from -> to.
func (n *Network) blockedFunc(from, to string) func(time.Time) bool {
	if from == to {
		return nil
	}
	return func(at time.Time) bool { return n.part.Load().at(at).blocked(from, to) }
}

// heldFunc returns the pause check of the direction from -> to.
func (n *Network) heldFunc(from, to string) func(time.Time) bool {
	if from == to {
		return nil
	}
	return func(at time.Time) bool {
		p := n.part.Load().at(at)
		return len(p.paused) > 0 && (p.paused[from] || p.paused[to])
	}
}

// String describes the partition: its groups and isolated hosts.
func (p *partition) String() string {
	groups := map[int][]string{}
	for h, g := range p.group {
		groups[g] = append(groups[g], h)
	}
	var parts []string
	for g := 1; g <= len(groups)+len(p.group); g++ {
		if hs, ok := groups[g]; ok {
			sort.Strings(hs)
			parts = append(parts, "["+strings.Join(hs, " ")+"]")
		}
	}
	var iso []string
	for h := range p.isolated {
		iso = append(iso, h)
	}
	sort.Strings(iso)
	if len(iso) > 0 {
		parts = append(parts, fmt.Sprintf("isolated %v", iso))
	}
	for _, set := range []struct {
		what  string
		hosts map[string]bool
	}{{"crashed", p.down}, {"paused", p.paused}} {
		var hs []string
		for h := range set.hosts {
			hs = append(hs, h)
		}
		sort.Strings(hs)
		if len(hs) > 0 {
			parts = append(parts, fmt.Sprintf("%s %v", set.what, hs))
		}
	}
	if p.mode != Drop && len(parts) > 0 {
		parts = append(parts, "("+p.mode.String()+")")
	}
	return strings.Join(parts, " ")
}

// ResetConns resets every open connection between hosts a and b that was
// made before this instant, as a middlebox injecting resets would: both
// ends see ECONNRESET (matching faultconn.ErrInjected) after what had
// already arrived. It returns how many connections it reset.
func (n *Network) ResetConns(a, b string) int {
	a, b = strings.ToLower(a), strings.ToLower(b)
	now := time.Now()
	n.mu.Lock()
	var victims []*Conn
	for c := range n.conns {
		if c.client && c.created.Before(now) && (c.local.name == a && c.remote.name == b || c.local.name == b && c.remote.name == a) {
			victims = append(victims, c)
		}
	}
	n.mu.Unlock()
	for _, c := range victims {
		c.injectReset()
	}
	return len(victims)
}
