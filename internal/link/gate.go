package link

import (
	"sync"
	"time"
)

// Gate is a partition that is switched shut and open: an arrival at an
// instant when it was shut is blocked. A change made at instant t applies
// to arrivals after t, as netsim's partitions do, so that an arrival due at
// exactly t sees the state before it, whichever goroutine runs first. The
// zero value is open. Safe for concurrent use.
type Gate struct {
	mu      sync.Mutex // a leaf lock, taken under Link.mu
	base    bool       // the state before changes[0]
	changes []gateChange
}

type gateChange struct {
	at   time.Time
	shut bool
}

// gateHistory bounds the changes a Gate keeps: an arrival older than the
// last eight sees the oldest kept state.
const gateHistory = 8

// Set shuts (true) or opens the gate from now on.
func (g *Gate) Set(shut bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.changes) == gateHistory {
		g.base = g.changes[0].shut
		g.changes = append(g.changes[:0], g.changes[1:]...)
	}
	g.changes = append(g.changes, gateChange{time.Now(), shut})
}

// Shut reports whether the gate is shut now (for arrivals after now).
func (g *Gate) Shut() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := len(g.changes); n > 0 {
		return g.changes[n-1].shut
	}
	return g.base
}

// Blocked reports whether an arrival at t is blocked.
func (g *Gate) Blocked(t time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	shut := g.base
	for _, c := range g.changes {
		if !c.at.Before(t) {
			break
		}
		shut = c.shut
	}
	return shut
}
