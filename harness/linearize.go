package harness

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// LinearizableOptions bounds CheckLinearizableWith. The zero value means
// the defaults of every field.
type LinearizableOptions struct {
	// MaxStates is the most search states the whole check may try, over
	// all keys: each is one attempt to place one operation next. Zero
	// means DefaultMaxStates. The check's time is proportional to it.
	MaxStates int
	// MaxMemory is the most bytes the memo table of one key may take
	// (about ops/8 + 64 + the value's length per visited state); zero
	// means DefaultMaxMemory.
	MaxMemory int64
	// FirstViolation stops the check at the first key (partition) it
	// proves not linearizable, as porcupine's CheckOperations does,
	// instead of going on to report every violating key: faster on a bad
	// history whose other keys are hard. The keys it did not check are
	// then reported as undecided.
	FirstViolation bool
}

// ErrInconclusive is matched (with errors.Is) by the error of a
// linearizability check that could not decide: the search hit a bound of
// LinearizableOptions, or the History overflowed, and no violation was
// found in what was checked.
var ErrInconclusive = errors.New("harness: linearizability check inconclusive")

// CheckLinearizable checks that the history is linearizable for a
// key-value store in which every key is an independent register that
// starts absent (see OpKind): that each operation can be given one
// instant between its call and its return (or after its call, or none,
// if pending) at which it took effect atomically, so that every result
// the clients saw is what a single copy of the store, applying the
// operations one at a time in that order, would have answered.
//
// It returns nil, a *LinearizabilityError naming every key whose history
// has no such order, with the key's operations, the longest linearizable
// prefix found and the operation that could not be placed after it, or an
// error matching ErrInconclusive when it could not decide. It never
// reports a pass it did not prove.
//
// # Algorithm
//
// Linearizability is compositional: a history is linearizable exactly
// when the history of each key is, so the history is partitioned by key
// and each key searched on its own. The search is Wing and Gong's
// backtracking over the call and return events in tick order, with Lowe's
// memoization: a state is the set of operations linearized so far (a
// bitset) and the register's value, and a state seen before is not
// searched again. An operation can be placed next when it was called
// before every unplaced operation returned; a return reached with its
// operation unplaced sends the search back. The search succeeds when
// every returned operation is placed (pending ones may be left out).
//
// Pending operations are always candidates once called, which is what
// makes them expensive, so the search tries them last and prunes them
// where that loses nothing: it leaves out pending gets; on keys with only
// gets, puts and deletes, pending writes of a value no get returned (so a
// client writing unique values that times out a lot costs nothing); a
// pending operation that would change nothing where it is tried (a
// failing CAS, a write of the value already there); and of identical
// pending operations (retries of one write) it places the later only
// after the earlier. None of this changes the verdict.
//
// # Limits
//
// The search is exponential in the number of operations that overlap in
// time on one key (pending ones overlap everything after their call), and
// the check is bounded: LinearizableOptions.MaxStates in total (default
// one million attempts, a fraction of a second) and MaxMemory per key. A
// bound hit leaves the key undecided. Histories of clients that each do
// one operation at a time are cheap: the 10000 operations of four
// clients on a few keys take milliseconds. When the History overflowed, the
// operations that returned after the first unrecorded call are checked as
// if pending (an unrecorded operation may explain their results), which
// keeps every violation found a real one; but the history was not checked
// in full, so the check never passes then.
//
// CheckLinearizable may run while operations are still being recorded:
// it checks a snapshot, and never changes the History.
func CheckLinearizable(h *History) error {
	return CheckLinearizableWith(h, LinearizableOptions{})
}

// CheckLinearizableWith is CheckLinearizable with bounds.
func CheckLinearizableWith(h *History, opts LinearizableOptions) error {
	ops, overflow, cut := h.snapshot()
	return checkHistory(ops, overflow, cut, opts)
}

// checkHistory checks a snapshot of a History.
func checkHistory(ops []Operation, overflow int, cut int64, opts LinearizableOptions) error {
	var bad []string
	for _, o := range ops {
		if o.Op.Kind < OpGet || o.Op.Kind > OpCAS {
			bad = append(bad, fmt.Sprintf("%v of client %d at tick %d", o.Op.Kind, o.Client, o.Call))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("harness: linearizability: %d operations of unknown kind: %s", len(bad), strings.Join(bad, ", "))
	}
	v, err := checkModel(KVModel(), entries(ops), overflow, cut, opts)
	if len(v.Violations) == 0 {
		if err != nil {
			err = fmt.Errorf("%w: %s", ErrInconclusive, strings.Join(kvNotes(v), "; "))
		}
		return err
	}
	checked := operations(v.Entries)
	e := &LinearizabilityError{Ops: len(ops), Notes: kvNotes(v)}
	keys := map[string]bool{}
	for _, o := range ops {
		keys[o.Op.Key] = true
	}
	e.Keys = len(keys)
	for _, x := range v.Violations {
		kv := KeyViolation{Key: x.Partition, Prefix: x.Prefix, Stuck: x.Stuck}
		for _, i := range x.Ops {
			kv.Ops = append(kv.Ops, checked[i])
		}
		e.Violations = append(e.Violations, kv)
	}
	return e
}

// kvNotes are the notes of a key-value check: the keys left undecided and
// the history's overflow, in History's words.
func kvNotes(v *Verdict[Op, Result]) []string {
	var notes []string
	if len(v.Undecided) > 0 {
		var keys []string
		for _, u := range v.Undecided {
			keys = append(keys, "key"+strings.TrimPrefix(u, "partition"))
		}
		notes = append(notes, "undecided: "+strings.Join(keys, "; "))
	}
	if v.Overflow > 0 {
		notes = append(notes, fmt.Sprintf("the history overflowed its limit of %d operations: %d calls were not recorded (raise History.Limit); "+
			"operations that returned after the first of them were checked as pending", len(v.Entries), v.Overflow))
	}
	return notes
}

// entries and operations convert between History's records and the
// generic Log's.
func entries(ops []Operation) []Entry[Op, Result] {
	es := make([]Entry[Op, Result], len(ops))
	for i, o := range ops {
		es[i] = Entry[Op, Result]{Client: o.Client, Input: o.Op, Output: o.Result, Call: o.Call, Return: o.Return, CalledAt: o.CalledAt, ReturnedAt: o.ReturnedAt}
	}
	return es
}

func operations(es []Entry[Op, Result]) []Operation {
	ops := make([]Operation, len(es))
	for i, e := range es {
		ops[i] = Operation{Client: e.Client, Op: e.Input, Result: e.Output, Call: e.Call, Return: e.Return, CalledAt: e.CalledAt, ReturnedAt: e.ReturnedAt}
	}
	return ops
}

// LinearizabilityError is the error of a linearizability check that found
// keys whose history is not linearizable. It is definite: every violation
// it lists is real, whatever else was left undecided.
type LinearizabilityError struct {
	Violations []KeyViolation // every failing key, sorted by key
	Keys, Ops  int            // keys and operations in the history
	Notes      []string       // keys left undecided, history overflow
}

// maxDetailed is how many violations the error's message explains in
// full; the others are named.
const maxDetailed = 3

// Error explains the first three violations in full (see
// KeyViolation.String), names the others, and adds the notes.
func (e *LinearizabilityError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "harness: not linearizable: %d of %d keys (%d operations recorded)", len(e.Violations), e.Keys, e.Ops)
	for i, v := range e.Violations {
		if i == maxDetailed {
			var rest []string
			for _, v := range e.Violations[i:] {
				rest = append(rest, strconv.Quote(v.Key))
			}
			fmt.Fprintf(&b, "\nand keys %s", strings.Join(rest, ", "))
			break
		}
		b.WriteString("\n")
		b.WriteString(v.String())
	}
	for _, n := range e.Notes {
		fmt.Fprintf(&b, "\nnote: %s", n)
	}
	return b.String()
}

// KeyViolation explains why the history of one key is not linearizable.
type KeyViolation struct {
	Key string
	// Ops are the key's operations in call order. Those that returned
	// after the first call an overflowing History did not record are
	// pending here.
	Ops []Operation
	// Prefix is the longest linearizable prefix the search found: indices
	// into Ops, in linearization order.
	Prefix []int
	// Stuck indexes the operation that could not be placed after Prefix:
	// of the operations outside it, the first to return, which therefore
	// had to come next or before.
	Stuck int
}

// maxShown is how many operations a violation's explanation lists.
const maxShown = 40

// String explains the violation: the prefix, the state after it, the
// operation that could not be placed and why, and the key's operations in
// real-time order around it, numbered #1… in call order.
func (v KeyViolation) String() string {
	var b strings.Builder
	pending := 0
	clients := map[int]bool{}
	for _, o := range v.Ops {
		clients[o.Client] = true
		if o.Pending() {
			pending++
		}
	}
	fmt.Fprintf(&b, "key %q: not linearizable (%d ops, %d pending, %d clients)\n", v.Key, len(v.Ops), pending, len(clients))
	var st KVState
	var order []string
	pos := map[int]int{}
	for k, i := range v.Prefix {
		o := v.Ops[i]
		st, _ = kvStep(st, o.Op, o.Result, o.Pending())
		order = append(order, fmt.Sprintf("#%d", i+1))
		pos[i] = k + 1
	}
	fmt.Fprintf(&b, "  longest linearizable prefix: %d ops: %s\n", len(v.Prefix), strings.Join(order, " "))
	stuck := v.Ops[v.Stuck]
	fmt.Fprintf(&b, "  after it the key is %v; #%d (client %d, %v, returned at tick %d) cannot be placed: ",
		st, v.Stuck+1, stuck.Client, stuck, stuck.Return)
	if _, ok := kvStep(st, stuck.Op, stuck.Result, stuck.Pending()); !ok {
		fmt.Fprintf(&b, "it would have seen %s\n", expected(st, stuck.Op))
	} else {
		b.WriteString("every way to go on from here fails\n")
	}

	// Show the operations around the stuck one: from the call of the
	// earliest of the last few placed and the stuck one, to its return.
	from := stuck.Call
	for _, i := range v.Prefix[max(len(v.Prefix)-8, 0):] {
		from = min(from, v.Ops[i].Call)
	}
	var shown []int
	for i, o := range v.Ops {
		if o.Call <= stuck.Return && (o.Pending() || o.Return >= from) {
			shown = append(shown, i)
		}
	}
	if len(shown) > maxShown {
		shown = shown[len(shown)-maxShown:]
	}
	fmt.Fprintf(&b, "  ops in real-time order (ticks call..return; %d of %d shown):\n", len(shown), len(v.Ops))
	for _, i := range shown {
		o := v.Ops[i]
		ret := "…"
		if !o.Pending() {
			ret = strconv.FormatInt(o.Return, 10)
		}
		mark := ""
		switch {
		case i == v.Stuck:
			mark = "  <- cannot be placed"
		case pos[i] > 0:
			mark = fmt.Sprintf("  (prefix %d)", pos[i])
		}
		fmt.Fprintf(&b, "    #%-3d client %-3d %6d..%-6s %v%s\n", i+1, o.Client, o.Call, ret, o, mark)
	}
	return strings.TrimRight(b.String(), "\n")
}

// KVState is the state of one key of KVModel: a register, absent or
// holding Value.
type KVState struct {
	Value string
	Found bool
}

// String returns "absent" or the quoted value.
func (s KVState) String() string {
	if !s.Found {
		return "absent"
	}
	return strconv.Quote(s.Value)
}

// hash hashes the state eight bytes at a time (values grow long under
// appends, and the search hashes every state it reaches): each word is
// mixed in by a multiply and a shift, the tail byte by byte, FNV-style.
// It is deterministic, like the rest of the search.
func (s KVState) hash() uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037) ^ uint64(len(s.Value))
	v := s.Value
	for ; len(v) >= 8; v = v[8:] {
		h = (h ^ binary.LittleEndian.Uint64([]byte(v[:8]))) * 0x9e3779b97f4a7c15
		h ^= h >> 29
	}
	for i := 0; i < len(v); i++ {
		h = (h ^ uint64(v[i])) * prime
	}
	if s.Found {
		h = (h ^ 0xff) * prime
	}
	return h
}

// KVModel is the key-value store of History (see OpKind): every key an
// independent register that starts absent. CheckLinearizable checks a
// History against it; with a Log[Op, Result], CheckModel does.
func KVModel() Model[KVState, Op, Result] {
	return Model[KVState, Op, Result]{
		Init:          func() KVState { return KVState{} },
		Step:          kvStep,
		Equal:         func(a, b KVState) bool { return a == b },
		Hash:          KVState.hash,
		Partition:     func(in Op) string { return in.Key },
		DescribeState: KVState.String,
		DescribeOp: func(in Op, out Result, pending bool) string {
			r := Operation{Op: in, Result: out, Return: 1}
			if pending {
				r.Return = 0
			}
			return r.String()
		},
		Size: func(s KVState) int { return len(s.Value) },
		skip: needless,
	}
}

// kvStep applies in to s, and reports whether out (if it returned)
// agrees with s.
func kvStep(s KVState, in Op, out Result, pending bool) (KVState, bool) {
	switch in.Kind {
	case OpGet:
		return s, pending || out.Found == s.Found && (!s.Found || out.Value == s.Value)
	case OpPut:
		return KVState{in.Value, true}, true
	case OpDelete:
		return KVState{}, true
	case OpAppend:
		return KVState{s.Value + in.Value, true}, true
	case OpCAS:
		swap := s.Found && s.Value == in.Old
		if !pending && out.OK != swap {
			return s, false
		}
		if swap {
			return KVState{in.Value, true}, true
		}
		return s, true
	}
	return s, false
}

// expected describes the result op would have had in state s.
func expected(s KVState, op Op) string {
	if op.Kind == OpCAS {
		if s.Found && s.Value == op.Old {
			return "ok"
		}
		return "failed"
	}
	return s.String()
}

// node is a call or return event in the doubly linked list the search
// walks; head is a sentinel. Lifting unlinks a node and unlift relinks
// it from its own pointers, which works when done in reverse order.
type node struct {
	op         int   // index into the key's operations
	call       bool  // a call event, else a return
	ret        *node // of a call: its operation's return, nil if pending
	prev, next *node
}

func (n *node) lift() {
	n.prev.next = n.next
	if n.next != nil {
		n.next.prev = n.prev
	}
}

func (n *node) unlift() {
	n.prev.next = n
	if n.next != nil {
		n.next.prev = n
	}
}

// memo is the search's table of the states seen: a state is a set of
// placed operations (a bitset) and the model's state. Entries live in
// flat slices, chained by hash, so that remembering a state allocates
// nothing of its own.
type memo[S any] struct {
	heads   map[uint64]int // hash → its latest entry
	entries []memoEntry[S]
	bits    []uint64 // entry k's bitset is bits[k*w : (k+1)*w]
	w       int      // words per bitset
}

type memoEntry[S any] struct {
	st   S
	next int // the previous entry of the same hash, or -1
}

// add remembers the state (bits, st) of hash h unless it was seen, and
// reports whether it was new.
func (t *memo[S]) add(h uint64, bits []uint64, st S, equal func(a, b S) bool) bool {
	head, ok := t.heads[h]
	if !ok {
		head = -1
	}
	for k := head; k >= 0; k = t.entries[k].next {
		if slices.Equal(t.bits[k*t.w:(k+1)*t.w], bits) && equal(t.entries[k].st, st) {
			return false
		}
	}
	t.heads[h] = len(t.entries)
	t.entries = append(t.entries, memoEntry[S]{st, head})
	t.bits = append(t.bits, bits...)
	return true
}

type keyResult struct {
	ok        bool
	undecided string // why the search stopped, if it did
	prefix    []int  // the longest linearizable prefix, in order
	stuck     int    // the first operation outside prefix to return
}

// splitmix64 hashes i to the bitset hash of operation i (Zobrist hashing:
// the hash of a set is the xor of its members', kept up to date in O(1)).
func splitmix64(i uint64) uint64 {
	z := i + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// search looks for a linearization of ops, the operations of one
// partition in call order, under model m, spending budget.
//
// The returned operations' call and return events are linked in tick
// order in one list, the pending operations' calls in another. The
// candidates to place next are the calls before the first return in the
// first list, then the pending calls made before that return: pending
// operations are tried last, as they are rarely needed and always
// candidates once called.
func search[S any, I comparable, O any](m *Model[S, I, O], ops []Entry[I, O], budget *int, maxMem int64) keyResult {
	type event struct {
		tick int64
		n    *node
	}
	skip := make([]bool, len(ops))
	if m.skip != nil {
		skip = m.skip(ops)
	}
	bits := make([]uint64, (len(ops)+63)/64) // the placed operations
	// twin[i] is the previous pending operation identical to pending
	// operation i, or -1. Identical pending operations are
	// interchangeable, the earlier one usable wherever the later one is:
	// the search places a pending operation only after its twin, which
	// turns 2^k orders of k retries of one write into k+1.
	twin := make([]int, len(ops))
	last := map[I]int{}
	for i, o := range ops {
		twin[i] = -1
		if o.Pending() && !skip[i] {
			if j, ok := last[o.Input]; ok {
				twin[i] = j
			}
			last[o.Input] = i
		}
	}
	placed := func(i int) bool { return i >= 0 && bits[i/64]&(1<<(i%64)) != 0 }
	var evs []event
	head, pending := &node{op: -1}, &node{op: -1}
	ptail := pending
	remaining := 0 // returned operations not yet placed
	for i := range ops {
		o := &ops[i]
		if skip[i] {
			continue
		}
		c := &node{op: i, call: true}
		if o.Pending() {
			c.prev, ptail.next = ptail, c
			ptail = c
			continue
		}
		c.ret = &node{op: i}
		evs = append(evs, event{o.Call, c}, event{o.Return, c.ret})
		remaining++
	}
	slices.SortFunc(evs, func(a, b event) int { return cmp.Compare(a.tick, b.tick) })
	prev := head
	for _, e := range evs {
		e.n.prev, prev.next = prev, e.n
		prev = e.n
	}

	zob := make([]uint64, len(ops))
	for i := range zob {
		zob[i] = splitmix64(uint64(i))
	}
	var setHash uint64
	toggle := func(i int) {
		bits[i/64] ^= 1 << (i % 64)
		setHash ^= zob[i]
	}
	seen := memo[S]{heads: map[uint64]int{}, w: len(bits)}
	var mem int64
	type frame struct {
		n    *node
		st   S     // before the frame's operation
		stop *node // the first return when a pending operation was placed
	}
	var stack []frame
	var best []int
	st := m.Init()
	// The scan: cur walks the first list from head through calls to the
	// first return (there is one while remaining > 0); then, with stop set
	// to that return, pcur walks the pending calls made before it.
	cur := head.next
	var stop, pcur *node
	for remaining > 0 {
		var cand *node
		if stop == nil {
			if cur.call {
				cand = cur
			} else {
				stop, pcur = cur, pending.next
			}
		}
		if stop != nil {
			for pcur != nil && twin[pcur.op] >= 0 && !placed(twin[pcur.op]) {
				pcur = pcur.next
			}
			if pcur != nil && ops[pcur.op].Call < ops[stop.op].Return {
				cand = pcur
			}
		}
		if cand == nil {
			// stop's operation had to be placed by now, and nothing more
			// can be placed: undo the last placement and try the next
			// candidate after it.
			if len(stack) == 0 {
				return failed(ops, best)
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			toggle(f.n.op)
			st = f.st
			if f.n.ret != nil {
				f.n.ret.unlift()
				remaining++
			}
			f.n.unlift()
			if f.stop == nil {
				cur, stop = f.n.next, nil
			} else {
				stop, pcur = f.stop, f.n.next
			}
			continue
		}
		if *budget <= 0 {
			return keyResult{undecided: "search bound hit (raise LinearizableOptions.MaxStates)", prefix: best}
		}
		*budget--
		o := &ops[cand.op]
		next, ok := m.Step(st, o.Input, o.Output, o.Pending())
		if ok && cand.ret == nil && m.Equal(next, st) {
			// A pending operation without effect here (a failing CAS, a
			// write of the value already there) is never needed here.
			ok = false
		}
		if ok {
			toggle(cand.op)
			h := setHash ^ m.Hash(next)
			if seen.add(h, bits, next, m.Equal) {
				mem += int64(8*len(bits)+m.Size(next)) + 64
				if mem > maxMem {
					return keyResult{undecided: "memory bound hit (raise LinearizableOptions.MaxMemory)", prefix: best}
				}
				stack = append(stack, frame{cand, st, stop})
				st = next
				cand.lift()
				if cand.ret != nil {
					cand.ret.lift()
					remaining--
				}
				if len(stack) > len(best) {
					best = best[:0]
					for _, f := range stack {
						best = append(best, f.n.op)
					}
				}
				cur, stop = head.next, nil
				continue
			}
			toggle(cand.op)
		}
		if stop == nil {
			cur = cur.next
		} else {
			pcur = pcur.next
		}
	}
	return keyResult{ok: true}
}

// needless marks the pending operations that no linearization needs: a
// pending get (no effect, no result), and, on a key whose operations are
// all gets, puts and deletes, a pending put or delete whose value no get
// returned. A linearization that places such a write w can drop it: the
// operations between w and the next write would be gets returning w's
// value, so there are none.
func needless(ops []Entry[Op, Result]) []bool {
	skip := make([]bool, len(ops))
	observed := map[KVState]bool{}
	blind := true
	for i, o := range ops {
		switch o.Input.Kind {
		case OpGet:
			skip[i] = o.Pending()
			switch {
			case o.Pending():
			case o.Output.Found:
				observed[KVState{o.Output.Value, true}] = true
			default:
				observed[KVState{}] = true
			}
		case OpPut, OpDelete:
		default:
			blind = false
		}
	}
	if !blind {
		return skip
	}
	for i, o := range ops {
		if o.Pending() && o.Input.Kind != OpGet {
			st, _ := kvStep(KVState{}, o.Input, o.Output, true)
			skip[i] = !observed[st]
		}
	}
	return skip
}

// failed builds the result of a failed search from its longest prefix.
func failed[I comparable, O any](ops []Entry[I, O], prefix []int) keyResult {
	in := make([]bool, len(ops))
	for _, i := range prefix {
		in[i] = true
	}
	stuck := -1
	for i, o := range ops {
		if !in[i] && !o.Pending() && (stuck < 0 || o.Return < ops[stuck].Return) {
			stuck = i
		}
	}
	return keyResult{prefix: slices.Clone(prefix), stuck: stuck}
}
