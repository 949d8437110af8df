package conformance

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/headwind-go/headwind/faultconn"
)

// dseg is one delivered copy of a segment: its bytes are
// written[off:off+size], one bit flipped if corrupt.
type dseg struct {
	off, size int
	corrupt   bool
}

// linkLog is what the trace says about one link: its data segments in
// send order, and its deliveries grouped by instant.
type linkLog struct {
	sends   []dseg         // by send order; off is the offset in what was written
	bySeq   map[uint64]int // seq -> index in sends
	groups  [][]dseg       // delivered copies, one group per instant, in order
	blocked map[uint64]bool
	lost    map[uint64]bool
	deliv   map[uint64]int // seq -> delivered copies
}

func readLog(events []faultconn.Event, l linkRef) *linkLog {
	g := &linkLog{bySeq: map[uint64]int{}, blocked: map[uint64]bool{}, lost: map[uint64]bool{}, deliv: map[uint64]int{}}
	corrupt := map[uint64]bool{}
	off := 0
	last := time.Duration(-1)
	for _, e := range events {
		if e.Link != l.name || e.Dir != l.dir {
			continue
		}
		switch e.Kind {
		case faultconn.KindSend:
			g.bySeq[e.Seq] = len(g.sends)
			g.sends = append(g.sends, dseg{off: off, size: e.Size})
			off += e.Size
		case faultconn.KindCorrupt:
			corrupt[e.Seq] = true
		case faultconn.KindBlock:
			g.blocked[e.Seq] = true
		case faultconn.KindLose:
			g.lost[e.Seq] = true
		case faultconn.KindDeliver:
			i, ok := g.bySeq[e.Seq]
			if !ok {
				continue
			}
			d := g.sends[i]
			d.corrupt = corrupt[e.Seq]
			if e.Time != last || len(g.groups) == 0 {
				g.groups = append(g.groups, nil)
				last = e.Time
			}
			g.groups[len(g.groups)-1] = append(g.groups[len(g.groups)-1], d)
			g.deliv[e.Seq]++
		}
	}
	return g
}

// rawFromIn rebuilds, from what a reader got through its In link (which
// only blocks, never reorders), the raw stream the In link took in: the
// bytes read, with the chunks a partition blocked as unknown bytes. It
// fails if the reader got more than the In link delivered.
func rawFromIn(got []byte, in *linkLog) (raw []byte, known []bool, err error) {
	seqs := make([]uint64, len(in.sends))
	for seq, i := range in.bySeq {
		seqs[i] = seq
	}
	pos := 0
	for i, s := range in.sends {
		seq := seqs[i]
		switch {
		case in.deliv[seq] > 0:
			k := min(s.size, len(got)-pos)
			raw = append(raw, got[pos:pos+k]...)
			for range k {
				known = append(known, true)
			}
			pos += k
			if k < s.size {
				return raw, known, nil
			}
		case in.blocked[seq]:
			raw = append(raw, make([]byte, s.size)...)
			for range s.size {
				known = append(known, false)
			}
		default:
			if pos < len(got) {
				return nil, nil, fmt.Errorf("read %d bytes, but the In link delivered only %d before segment #%d, which it did not deliver", len(got), pos, seq)
			}
			return raw, known, nil
		}
	}
	if pos < len(got) {
		return nil, nil, fmt.Errorf("read %d bytes, but the In link delivered only %d", len(got), pos)
	}
	return raw, known, nil
}

// matcher checks that got (known[i] false: any byte) is the delivered
// copies of groups, each group in any order, each copy's bytes taken from
// written. Partial: got may end within a copy or before the last group.
type matcher struct {
	got     []byte
	known   []bool
	written []byte
	groups  [][]dseg
	partial bool
	steps   int
}

const matchBudget = 2_000_000

var errBudget = fmt.Errorf("the segment matcher ran out of budget")

func matchSegments(got []byte, known []bool, written []byte, groups [][]dseg, partial bool) error {
	m := &matcher{got: got, known: known, written: written, groups: groups, partial: partial}
	if len(groups) == 0 {
		if len(got) == 0 {
			return nil
		}
		return fmt.Errorf("read %d bytes, but nothing was delivered", len(got))
	}
	rem := make([]int, len(groups[0]))
	for i := range rem {
		rem[i] = i
	}
	ok := m.at(0, 0, rem)
	if m.steps > matchBudget {
		return errBudget
	}
	if !ok {
		delivered := 0
		for _, g := range groups {
			for _, d := range g {
				delivered += d.size
			}
		}
		return fmt.Errorf("%d bytes read do not match the %d bytes of %d delivered segment groups (partial=%v)", len(got), delivered, len(groups), partial)
	}
	return nil
}

func (m *matcher) at(pos, g int, rem []int) bool {
	m.steps++
	if m.steps > matchBudget {
		return false
	}
	for len(rem) == 0 {
		g++
		if g == len(m.groups) {
			return pos == len(m.got)
		}
		rem = make([]int, len(m.groups[g]))
		for i := range rem {
			rem[i] = i
		}
	}
	if pos == len(m.got) {
		return m.partial
	}
	for i, idx := range rem {
		d := m.groups[g][idx]
		k := min(d.size, len(m.got)-pos)
		if !m.eq(pos, d, k) {
			continue
		}
		if k < d.size {
			if m.partial {
				return true
			}
			continue
		}
		next := make([]int, 0, len(rem)-1)
		next = append(next, rem[:i]...)
		next = append(next, rem[i+1:]...)
		if m.at(pos+k, g, next) {
			return true
		}
		if m.steps > matchBudget {
			return false
		}
	}
	return false
}

// eq reports whether got[pos:pos+k] is d's first k bytes, with at most
// one bit flipped if d is corrupt (exactly one when all of d is there).
func (m *matcher) eq(pos int, d dseg, k int) bool {
	if d.off+k > len(m.written) {
		return false
	}
	flipped := 0
	for i := range k {
		if m.known != nil && !m.known[pos+i] {
			continue
		}
		x := m.got[pos+i] ^ m.written[d.off+i]
		if x == 0 {
			continue
		}
		if !d.corrupt {
			return false
		}
		flipped += bits.OnesCount8(x)
		if flipped > 1 {
			return false
		}
	}
	if d.corrupt && k == d.size && flipped == 0 {
		// The flipped bit may be in a byte the partition hid.
		for i := range k {
			if m.known != nil && !m.known[pos+i] {
				return true
			}
		}
		return false
	}
	return true
}
