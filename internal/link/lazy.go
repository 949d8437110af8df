package link

import (
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Connections made by goroutines that run at the same virtual instant
// reach a front end in an order the Go scheduler picks, so an ordinal
// handed out in arrival order (a dial's "#n") is not a stable key for
// their random streams. Ordinals hands the ordinals out and keys the
// streams lazily, at the first write on the connection (either
// direction; nothing random is drawn before data):
//
//   - a connection that was the only one of its base made at its instant,
//     and whose first write comes at a later instant, is keyed by its
//     ordinal, base#n: the count of connections of the base made at
//     earlier instants fixes it;
//   - the connections of a base made at one instant (a group), and one
//     first written at the very instant it was made (when another might
//     still join its group), are keyed by what they carry: base#f/h,
//     with f the group's first ordinal and h a hash of the first
//     KeyBytes bytes of the first write, and base#f/h#k for the k-th
//     connection of the group keyed with the same hash.
//
// A group's connections that write the same first bytes at the same
// instant remain a tie the scheduler breaks, and so do the two
// directions of one connection writing first at the same instant.
type Ordinals struct {
	mu    sync.Mutex // guards bases and every group's counts
	bases map[string]*ordState
}

// KeyBytes is how many bytes of a connection's first write key its
// random streams when they are keyed by content.
const KeyBytes = 4096

type ordState struct {
	n uint64 // connections of the base so far
	g *group // the latest instant's group
}

// group is the connections of one base made at one instant.
type group struct {
	at    time.Time
	first uint64         // the group's first ordinal
	size  int            // its connections so far
	seen  map[uint64]int // connections keyed by content, per hash; nil until one is
}

// Lazy is the key of one connection's random streams and its name, fixed
// at the connection's first write. Both links of a connection share it.
type Lazy struct {
	o    *Ordinals
	base string
	ord  uint64
	name string // the name until the key is fixed

	mu sync.Mutex // serializes fixing the key; a leaf under Link.mu
	g  *group     // nil once the key is fixed
	k  atomic.Pointer[fixed]
}

type fixed struct{ key, name string }

// Next numbers a new connection of base made now: its ordinal counts from
// 1 per base. name makes the connection's name from the ordinal; it is
// the name until the key is fixed by content (then the key is the name).
func (o *Ordinals) Next(base string, name func(ord uint64) string) *Lazy {
	now := time.Now()
	o.mu.Lock()
	if o.bases == nil {
		o.bases = make(map[string]*ordState)
	}
	st := o.bases[base]
	if st == nil {
		st = &ordState{}
		o.bases[base] = st
	}
	st.n++
	if st.g == nil || !st.g.at.Equal(now) {
		st.g = &group{at: now, first: st.n}
	}
	st.g.size++
	z := &Lazy{o: o, base: base, ord: st.n, g: st.g}
	o.mu.Unlock()
	z.name = name(z.ord)
	return z
}

// Ord returns the connection's ordinal, in arrival order.
func (z *Lazy) Ord() uint64 { return z.ord }

// Name returns the connection's name: the one Next made until the first
// write, then the key if the connection was keyed by content.
func (z *Lazy) Name() string {
	if f := z.k.Load(); f != nil {
		return f.name
	}
	return z.name
}

// key returns the key of the connection's streams, fixing it from first,
// the first write on the connection, if it is not fixed yet.
func (z *Lazy) key(first []byte) string {
	if f := z.k.Load(); f != nil {
		return f.key
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if f := z.k.Load(); f != nil {
		return f.key
	}
	o := z.o
	o.mu.Lock()
	g := z.g
	var f fixed
	if g.size == 1 && time.Now().After(g.at) {
		f = fixed{key: z.base + "#" + strconv.FormatUint(z.ord, 10), name: z.name}
	} else {
		h := fnv.New64a()
		h.Write(first[:min(len(first), KeyBytes)])
		sum := splitmix(h.Sum64())
		if g.seen == nil {
			g.seen = make(map[uint64]int)
		}
		g.seen[sum]++
		hex := strconv.FormatUint(sum>>32|1<<32, 16)[1:] // 8 digits
		f.key = z.base + "#" + strconv.FormatUint(g.first, 10) + "/" + hex
		if k := g.seen[sum]; k > 1 {
			f.key += "#" + strconv.Itoa(k)
		}
		f.name = f.key
	}
	o.mu.Unlock()
	z.g = nil
	z.k.Store(&f)
	return f.key
}
