package harness

import (
	"cmp"
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
// CheckLinearizable may run while operations are still being recorded
// (it checks a snapshot); the verdict is kept for WriteHTML.
func CheckLinearizable(h *History) error {
	return CheckLinearizableWith(h, LinearizableOptions{})
}

// CheckLinearizableWith is CheckLinearizable with bounds.
func CheckLinearizableWith(h *History, opts LinearizableOptions) error {
	if opts.MaxStates <= 0 {
		opts.MaxStates = DefaultMaxStates
	}
	if opts.MaxMemory <= 0 {
		opts.MaxMemory = DefaultMaxMemory
	}
	ops, overflow, cut := h.snapshot()
	byKey := map[string][]Operation{}
	var bad []string
	for _, o := range ops {
		if o.Op.Kind < OpGet || o.Op.Kind > OpCAS {
			bad = append(bad, fmt.Sprintf("%v of client %d at tick %d", o.Op.Kind, o.Client, o.Call))
		}
		if cut > 0 && o.Return > cut {
			o.Return = 0
		}
		byKey[o.Op.Key] = append(byKey[o.Op.Key], o)
	}
	if len(bad) > 0 {
		err := fmt.Errorf("harness: linearizability: %d operations of unknown kind: %s", len(bad), strings.Join(bad, ", "))
		h.setVerdict(len(ops), err, nil)
		return err
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	// Small keys first, so that one hard key cannot eat the budget of
	// all the easy ones.
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(byKey[a]), len(byKey[b])), cmp.Compare(a, b))
	})
	budget := opts.MaxStates
	var violations []KeyViolation
	var undecided []string
	for _, k := range keys {
		kops := byKey[k]
		r := linearizeKey(kops, &budget, opts.MaxMemory)
		switch {
		case r.undecided != "":
			undecided = append(undecided, fmt.Sprintf("key %q (%d ops): %s", k, len(kops), r.undecided))
		case !r.ok:
			violations = append(violations, KeyViolation{Key: k, Ops: kops, Prefix: r.prefix, Stuck: r.stuck})
		}
	}
	slices.Sort(undecided)
	slices.SortFunc(violations, func(a, b KeyViolation) int { return cmp.Compare(a.Key, b.Key) })
	var notes []string
	if len(undecided) > 0 {
		notes = append(notes, "undecided: "+strings.Join(undecided, "; "))
	}
	if overflow > 0 {
		notes = append(notes, fmt.Sprintf("the history overflowed its limit of %d operations: %d calls were not recorded (raise History.Limit); "+
			"operations that returned after the first of them were checked as pending", len(ops), overflow))
	}
	var err error
	switch {
	case len(violations) > 0:
		err = &LinearizabilityError{Violations: violations, Keys: len(keys), Ops: len(ops), Notes: notes}
	case len(notes) > 0:
		err = fmt.Errorf("%w: %s", ErrInconclusive, strings.Join(notes, "; "))
	}
	h.setVerdict(len(ops), err, violations)
	return err
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
	var st regState
	var order []string
	pos := map[int]int{}
	for k, i := range v.Prefix {
		st, _ = apply(st, &v.Ops[i])
		order = append(order, fmt.Sprintf("#%d", i+1))
		pos[i] = k + 1
	}
	fmt.Fprintf(&b, "  longest linearizable prefix: %d ops: %s\n", len(v.Prefix), strings.Join(order, " "))
	stuck := v.Ops[v.Stuck]
	fmt.Fprintf(&b, "  after it the key is %v; #%d (client %d, %v, returned at tick %d) cannot be placed: ",
		st, v.Stuck+1, stuck.Client, stuck, stuck.Return)
	if _, ok := apply(st, &stuck); !ok {
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

// regState is the model: one register.
type regState struct {
	value string
	found bool
}

func (s regState) String() string {
	if !s.found {
		return "absent"
	}
	return strconv.Quote(s.value)
}

// hash is FNV-1a over the state.
func (s regState) hash() uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s.value); i++ {
		h = (h ^ uint64(s.value[i])) * 1099511628211
	}
	if s.found {
		h = (h ^ 0xff) * 1099511628211
	}
	return h
}

// apply returns the state after o, taking effect in state s, and whether
// o's result (if it returned) agrees with s.
func apply(s regState, o *Operation) (regState, bool) {
	pending := o.Pending()
	switch o.Op.Kind {
	case OpGet:
		return s, pending || o.Result.Found == s.found && (!s.found || o.Result.Value == s.value)
	case OpPut:
		return regState{o.Op.Value, true}, true
	case OpDelete:
		return regState{}, true
	case OpAppend:
		return regState{s.value + o.Op.Value, true}, true
	case OpCAS:
		swap := s.found && s.value == o.Op.Old
		if !pending && o.Result.OK != swap {
			return s, false
		}
		if swap {
			return regState{o.Op.Value, true}, true
		}
		return s, true
	}
	return s, false
}

// expected describes the result op would have had in state s.
func expected(s regState, op Op) string {
	if op.Kind == OpCAS {
		if s.found && s.value == op.Old {
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

type memoEntry struct {
	bits []uint64
	st   regState
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

// linearizeKey searches for a linearization of ops, the operations of one
// key in call order, spending budget.
//
// The returned operations' call and return events are linked in tick
// order in one list, the pending operations' calls in another. The
// candidates to place next are the calls before the first return in the
// first list, then the pending calls made before that return: pending
// operations are tried last, as they are rarely needed and always
// candidates once called.
func linearizeKey(ops []Operation, budget *int, maxMem int64) keyResult {
	type event struct {
		tick int64
		n    *node
	}
	skip := needless(ops)
	bits := make([]uint64, (len(ops)+63)/64) // the placed operations
	// twin[i] is the previous pending operation identical to pending
	// operation i, or -1. Identical pending operations are
	// interchangeable, the earlier one usable wherever the later one is:
	// the search places a pending operation only after its twin, which
	// turns 2^k orders of k retries of one write into k+1.
	twin := make([]int, len(ops))
	last := map[Op]int{}
	for i, o := range ops {
		twin[i] = -1
		if o.Pending() && !skip[i] {
			if j, ok := last[o.Op]; ok {
				twin[i] = j
			}
			last[o.Op] = i
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
	memo := map[uint64][]memoEntry{}
	var mem int64
	type frame struct {
		n    *node
		st   regState // before the frame's operation
		stop *node    // the first return when a pending operation was placed
	}
	var stack []frame
	var best []int
	var st regState
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
		next, ok := apply(st, &ops[cand.op])
		if ok && cand.ret == nil && next == st {
			// A pending operation without effect here (a failing CAS, a
			// write of the value already there) is never needed here.
			ok = false
		}
		if ok {
			toggle(cand.op)
			h := setHash ^ next.hash()
			if !seen(memo[h], bits, next) {
				memo[h] = append(memo[h], memoEntry{slices.Clone(bits), next})
				mem += int64(8*len(bits)+len(next.value)) + 64
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
func needless(ops []Operation) []bool {
	skip := make([]bool, len(ops))
	observed := map[regState]bool{}
	blind := true
	for i, o := range ops {
		switch o.Op.Kind {
		case OpGet:
			skip[i] = o.Pending()
			switch {
			case o.Pending():
			case o.Result.Found:
				observed[regState{o.Result.Value, true}] = true
			default:
				observed[regState{}] = true
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
		if o.Pending() && o.Op.Kind != OpGet {
			st, _ := apply(regState{}, &o)
			skip[i] = !observed[st]
		}
	}
	return skip
}

func seen(bucket []memoEntry, bits []uint64, st regState) bool {
	for _, e := range bucket {
		if e.st == st && slices.Equal(e.bits, bits) {
			return true
		}
	}
	return false
}

// failed builds the result of a failed search from its longest prefix.
func failed(ops []Operation, prefix []int) keyResult {
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
