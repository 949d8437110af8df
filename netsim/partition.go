package netsim

import (
	"fmt"
	"sort"
	"strings"
)

// partition is an immutable snapshot of who cannot reach whom; links read
// it at every arrival through Network.part.
type partition struct {
	group    map[string]int  // host -> group number, from 1; absent: in no group
	isolated map[string]bool // hosts cut off from every other host
}

// blocked reports whether from cannot reach to.
func (p *partition) blocked(from, to string) bool {
	if from == to {
		return false
	}
	if p.isolated[from] || p.isolated[to] {
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
func (n *Network) Partition(groups ...[]string) {
	old := n.part.Load()
	p := &partition{group: make(map[string]int), isolated: old.isolated}
	for i, g := range groups {
		for _, h := range g {
			p.group[strings.ToLower(h)] = i + 1
		}
	}
	n.part.Store(p)
}

// Isolate cuts host off from every other host until Heal.
func (n *Network) Isolate(host string) {
	old := n.part.Load()
	p := &partition{group: old.group, isolated: make(map[string]bool, len(old.isolated)+1)}
	for h := range old.isolated {
		p.isolated[h] = true
	}
	p.isolated[strings.ToLower(host)] = true
	n.part.Store(p)
}

// Heal ends every partition and isolation: from now on, every transmission
// gets through (stalled connections recover at their next retransmission).
func (n *Network) Heal() { n.part.Store(&partition{}) }

// Reachable reports whether from can reach to now.
func (n *Network) Reachable(from, to string) bool {
	return !n.part.Load().blocked(strings.ToLower(from), strings.ToLower(to))
}

// blockedFunc returns the partition check of the direction from -> to.
func (n *Network) blockedFunc(from, to string) func() bool {
	if from == to {
		return nil
	}
	return func() bool { return n.part.Load().blocked(from, to) }
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
	return strings.Join(parts, " ")
}
