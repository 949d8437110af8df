package netsim

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/headwind-go/headwind/internal/link"
)

// Crash powers host off, as pulling its plug would. From now on:
//
//   - it sends nothing more: no FIN, no reset, and what it had written
//     that has not arrived never will;
//   - nothing reaches it: its peers hear silence, so their
//     retransmissions time out (ETIMEDOUT, 924.6s at the minimum timeout)
//     and dials to it go unanswered (ETIMEDOUT after 127s), whatever the
//     partition mode;
//   - its listeners, conns and packet conns vanish: their blocked and
//     later calls fail with net.ErrClosed, their ports are free, and
//     Close on them does nothing more;
//   - its own dials in progress, and new Dial, Listen and ListenPacket
//     calls, fail with ENETDOWN until Restart.
//
// The goroutines of the service that ran on the host are not stopped:
// they see their calls fail, as the code after a crash would never run
// at all. (harness's services, which register how a host's service
// starts, are cancelled right after their host crashes, and waited for.) Like Partition, the
// silence applies to what arrives after this instant. Crashing a crashed
// host does nothing. An unknown host is an error.
func (n *Network) Crash(host string) error {
	h, err := n.known(host)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if h.down {
		h.mu.Unlock()
		return nil
	}
	h.down = true
	close(h.crashed)
	wasPaused := h.paused
	if wasPaused {
		h.paused = false
		for _, w := range h.waiters {
			close(w) // they meet the crashed host
		}
		h.waiters = nil
	}
	lns := make([]*Listener, 0, len(h.lns))
	for _, l := range h.lns {
		lns = append(lns, l)
	}
	pcs := make([]*PacketConn, 0, len(h.udp))
	for _, pc := range h.udp {
		pcs = append(pcs, pc)
	}
	h.mu.Unlock()
	since := time.Now()
	if wasPaused {
		since = since.Add(-1) // see below
	}
	n.setPartitionSince(since, func(old *partition) *partition {
		p := old.with()
		p.down = toggled(old.down, h.name, true)
		p.paused = toggled(old.paused, h.name, false)
		return p
	})
	if wasPaused {
		// What the pause held is lost to the crash: released now, it
		// meets the crashed host (the change applies to this instant
		// too), so the peers retransmit into the silence.
		n.release(h, time.Now())
	}
	n.mu.Lock()
	var conns []*Conn
	for c := range n.conns {
		if c.local == h {
			conns = append(conns, c)
		}
	}
	n.mu.Unlock()
	for _, l := range lns {
		l.close(false)
	}
	for _, c := range conns {
		c.crash()
	}
	for _, pc := range pcs {
		pc.Close()
	}
	return nil
}

// Restart boots a crashed host again: a new incarnation at the same
// address, with nothing listening and no connections. Segments of
// connections from before the crash are answered with a reset (their
// peers see ECONNRESET), dials to it get ECONNREFUSED until something
// listens, and it can dial, listen and send again. Restarting a host that
// is up is an error; so is an unknown host.
func (n *Network) Restart(host string) error {
	h, err := n.known(host)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if !h.down {
		h.mu.Unlock()
		return fmt.Errorf("netsim: Restart(%q): the host is up (Crash it first)", host)
	}
	h.down = false
	h.crashed = make(chan struct{})
	h.boots++
	h.mu.Unlock()
	n.setPartition(func(old *partition) *partition {
		p := old.with()
		p.down = toggled(old.down, h.name, false)
		return p
	})
	n.mu.Lock()
	ghosts := n.ghosts[h]
	delete(n.ghosts, h)
	n.mu.Unlock()
	for _, c := range ghosts {
		c.end.Revive()
	}
	return nil
}

// Up reports whether host is running: not crashed, or restarted since.
func (n *Network) Up(host string) bool {
	h, err := n.known(host)
	if err != nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.down
}

// Boots returns how many times host has booted: 1, plus one per Restart.
func (h *Host) Boots() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.boots
}

// known returns the host named name, which must exist.
func (n *Network) known(name string) (*Host, error) {
	n.mu.Lock()
	h, ok := n.hosts[strings.ToLower(name)]
	n.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("netsim: no host named %q", name)
	}
	return h, nil
}

// crash ends the conn as its host's crash does (see Network.Crash). The
// end stays reachable by its peer, a ghost that answers with resets once
// its host has restarted; the network keeps it until then, so the ghosts
// are bounded by the conns the host had.
func (c *Conn) crash() {
	c.closed.Store(true)
	c.end.Crash(net.ErrClosed)
	c.release()
	n := c.net
	n.mu.Lock()
	if n.ghosts == nil {
		n.ghosts = make(map[*Host][]*Conn)
	}
	n.ghosts[c.local] = append(n.ghosts[c.local], c)
	n.mu.Unlock()
}

// Pause freezes host's traffic both ways, as the network sees a host whose
// process is stopped (SIGSTOP, a long GC pause, a suspended VM): what it
// sends and what is sent to it is held, not lost, and dials to or from it
// wait, until Resume releases everything in order. Nothing
// times out for being held: the segments are not lost, so nothing is
// retransmitted. The host's goroutines keep running (its deadlines still
// fire); only its traffic stops. Like Partition, a pause applies to what
// arrives after this instant. Pausing a paused host does nothing; a
// crashed host cannot be paused; an unknown host is an error.
func (n *Network) Pause(host string) error {
	h, err := n.known(host)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		return fmt.Errorf("netsim: Pause(%q): the host is crashed", host)
	}
	if h.paused {
		return nil
	}
	h.paused = true
	n.setPartition(func(old *partition) *partition {
		p := old.with()
		p.paused = toggled(old.paused, h.name, true)
		return p
	})
	return nil
}

// Resume ends host's pause: what arrives from this instant on gets
// through, and what was held is released just after it, in a fixed
// order: the dials that waited, a nanosecond apart in the order they
// began waiting, then each connection's held segments in the order they
// were held, a nanosecond apart per link in the order of the links'
// names (unless the other end is paused too). Released all at one
// instant, they would wake their readers in an order the Go scheduler
// picks, and a case would not replay. Resuming a host that is not paused
// does nothing; an unknown host is an error.
func (n *Network) Resume(host string) error {
	h, err := n.known(host)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if !h.paused {
		h.mu.Unlock()
		return nil
	}
	h.paused = false
	// Dials that waited wake one after another, a nanosecond apart in the
	// order they began waiting, from a nanosecond after now; then the
	// links are released (see release). Nothing the pause held acts at
	// the very instant of the resume, where whatever else happens then
	// (the property reacting to the heal) would race it, and no two of
	// them act at one instant, where their order would be the
	// scheduler's.
	waiters := h.waiters
	h.waiters = nil
	for i, w := range waiters {
		time.AfterFunc(time.Duration(1+i), func() { close(w) })
	}
	h.mu.Unlock()
	// The resume applies to arrivals at this very instant too (unlike a
	// Pause or a Partition): an arrival due now cannot then be held after
	// the release below, whichever goroutine handles it first.
	n.setPartitionSince(time.Now().Add(-1), func(old *partition) *partition {
		p := old.with()
		p.paused = toggled(old.paused, h.name, false)
		return p
	})
	n.release(h, time.Now().Add(time.Duration(1+len(waiters))))
	return nil
}

// release releases what a pause of h held, one link after another: the
// first holding link's at at (after this instant), the next one's a
// nanosecond later, in the order of the links' names. Released all at one instant, the segments
// of several connections would wake their readers in an order the Go
// scheduler picks, and a case would not replay.
func (n *Network) release(h *Host, at time.Time) {
	links := n.pausedLinks(h)
	slices.SortFunc(links, func(a, b *link.Link) int {
		return cmp.Or(cmp.Compare(a.Name(), b.Name()), cmp.Compare(a.Dir(), b.Dir()))
	})
	// Nothing is delivered at this very instant: a reader woken by an
	// early link could otherwise act on a later link before its release.
	for _, l := range links {
		if l.Unhold(at) {
			at = at.Add(1)
		}
	}
}

// pausedLinks returns the links of h's conns and flows whose other end is
// not paused.
func (n *Network) pausedLinks(h *Host) []*link.Link {
	now := n.part.Load()
	var links []*link.Link
	seen := make(map[*link.Link]bool)
	n.mu.Lock()
	for c := range n.conns {
		if (c.local == h || c.remote == h) && !now.paused[c.local.name] && !now.paused[c.remote.name] {
			for _, l := range []*link.Link{c.tx, c.rx} {
				if !seen[l] { // both ends of a pair may be registered
					seen[l] = true
					links = append(links, l)
				}
			}
		}
	}
	var pcs []*PacketConn
	for pc := range n.packets {
		pcs = append(pcs, pc)
	}
	n.mu.Unlock()
	for _, pc := range pcs {
		if pc.host == h {
			links = append(links, pc.links(func(to string) bool { return !now.paused[to] })...)
		} else if !now.paused[pc.host.name] {
			links = append(links, pc.linksTo(h.name)...)
		}
	}
	return links
}

// Paused reports whether host is paused.
func (n *Network) Paused(host string) bool {
	h, err := n.known(host)
	if err != nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.paused
}

// waitResumed waits until neither a nor b is paused, ctx ends, the network
// closes or crashed is closed; it reports whether the hosts are running.
func (n *Network) waitResumed(ctx context.Context, crashed <-chan struct{}, hosts ...*Host) bool {
	for {
		var h *Host
		var wait chan struct{}
		for _, x := range hosts {
			x.mu.Lock()
			if x.paused {
				h, wait = x, make(chan struct{})
				x.waiters = append(x.waiters, wait)
			}
			x.mu.Unlock()
			if wait != nil {
				break
			}
		}
		if wait == nil {
			return true
		}
		select {
		case <-wait:
			continue
		case <-ctx.Done():
		case <-n.done:
		case <-crashed:
		}
		h.mu.Lock()
		h.waiters = slices.DeleteFunc(h.waiters, func(c chan struct{}) bool { return c == wait })
		h.mu.Unlock()
		return false
	}
}
