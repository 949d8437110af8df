package harness

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// Model is the sequential specification that a concurrent history is
// checked against for linearizability: a single copy of the system, which
// applies operations one at a time. S is its state, I an operation's
// input and O its output. Init and Step are required; the other fields
// have defaults. QueueModel, SetModel and KVModel are provided; write your
// own for anything else (a counter, a lock, a log).
type Model[S any, I comparable, O any] struct {
	// Init returns the state before any operation.
	Init func() S
	// Step applies the operation in to state s and returns the state
	// after it and whether out is what a single copy in state s answers.
	// For a pending operation (it never returned: its effect may have
	// happened, or not) out is the zero O and pending is true; Step then
	// reports whether the operation can take effect in s at all (usually
	// true). Step must not modify s: return a new state.
	Step func(s S, in I, out O, pending bool) (next S, ok bool)
	// Equal reports whether two states are the same; nil means
	// reflect.DeepEqual.
	Equal func(a, b S) bool
	// Hash hashes a state for the search's memo table; equal states must
	// hash alike. Nil hashes fmt's %#v form (correct, and slower).
	Hash func(S) uint64
	// Partition names the independent part of the system an operation
	// acts on (a key): operations of different partitions are checked
	// separately, which linearizability allows and which keeps the search
	// small. Nil puts every operation in one partition.
	Partition func(in I) string
	// DescribeState and DescribeOp format states and operations in
	// reports; nil means fmt's %v.
	DescribeState func(S) string
	DescribeOp    func(in I, out O, pending bool) string
	// Size is a state's size in bytes, for LinearizableOptions.MaxMemory;
	// nil means 64.
	Size func(S) int

	// skip marks the pending operations no linearization needs (KVModel's
	// pruning of blind writes).
	skip func(ops []Entry[I, O]) []bool
}

// Entry is one operation recorded in a Log: who, what, what came back,
// and when, in the log's logical ticks and in time.
type Entry[I comparable, O any] struct {
	Client int // the client's number, as given to Call
	Input  I
	Output O     // meaningful only when the operation returned
	Call   int64 // tick of the invocation, from 1
	Return int64 // tick of the response; 0 while pending
	// CalledAt and ReturnedAt are when Call and Return were made, by
	// package time: for timelines. The ticks, not these, order
	// operations (many share one virtual instant).
	CalledAt, ReturnedAt time.Time
}

// Pending reports whether the operation never returned.
func (e Entry[I, O]) Pending() bool { return e.Return == 0 }

// Log records the operations clients perform, for CheckModel: the
// generic form of History, with any input and output types. Call Call
// just before the request leaves the client and Return just after its
// response arrived; an operation whose outcome is unknown (a timeout, a
// reset) must stay pending. Time is logical, as in History (see its Time
// section).
//
// A Log records at most Limit operations; beyond it Call records nothing
// and the overflow is counted, and CheckModel then never reports a pass.
// The zero value is an empty log ready to use. A Log is safe for
// concurrent use, and so is a Handle.
type Log[I comparable, O any] struct {
	// Limit is the most operations recorded; zero means
	// DefaultHistoryLimit. Set it before the first Call.
	Limit int

	mu       sync.Mutex // guards the fields below
	clock    int64
	ops      []Entry[I, O]
	overflow int
	cut      int64 // the tick of the first call not recorded; 0 if none
}

// Handle is the handle of an operation that was called and has not yet
// returned.
type Handle[I comparable, O any] struct {
	l *Log[I, O] // nil if the call overflowed the log
	i int
}

// Call records the invocation of input by client and returns the handle
// to Return its response with.
func (l *Log[I, O]) Call(client int, input I) *Handle[I, O] {
	return l.call(client, input, l.Limit)
}

// call is Call with the limit given.
func (l *Log[I, O]) call(client int, input I, limit int) *Handle[I, O] {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clock++
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	if len(l.ops) >= limit {
		if l.cut == 0 {
			l.cut = l.clock
		}
		l.overflow++
		return &Handle[I, O]{}
	}
	l.ops = append(l.ops, Entry[I, O]{Client: client, Input: input, Call: l.clock, CalledAt: time.Now()})
	return &Handle[I, O]{l: l, i: len(l.ops) - 1}
}

// Return records the operation's response. Only the first Return counts;
// on the handle of a call that overflowed the log it does nothing.
func (h *Handle[I, O]) Return(output O) {
	if h == nil || h.l == nil {
		return
	}
	l := h.l
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clock++
	if l.ops[h.i].Return != 0 {
		return
	}
	l.ops[h.i].Return = l.clock
	l.ops[h.i].ReturnedAt = time.Now()
	l.ops[h.i].Output = output
}

// Entries returns a copy of the recorded operations, in call order.
func (l *Log[I, O]) Entries() []Entry[I, O] {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops)
}

func (l *Log[I, O]) snapshot() ([]Entry[I, O], int, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops), l.overflow, l.cut
}

// Verdict is what a linearizability check found. It is a value of its
// own: the check never changes the log it read.
type Verdict[I comparable, O any] struct {
	// Entries are the operations checked, in call order (a snapshot of
	// the log; those that returned after the first unrecorded call of an
	// overflowing log are pending here).
	Entries []Entry[I, O]
	// Violations lists every partition with no linearization, by name.
	Violations []Violation
	// Undecided lists the partitions a bound of LinearizableOptions left
	// undecided, with why.
	Undecided []string
	// Overflow is the number of calls the log did not record.
	Overflow int

	describeOp func(in I, out O, pending bool) string // the model's, for the timeline page
}

// Linearizable reports whether the check proved the history
// linearizable: no violation, nothing undecided, no overflow.
func (v *Verdict[I, O]) Linearizable() bool {
	return len(v.Violations) == 0 && len(v.Undecided) == 0 && v.Overflow == 0
}

// Stuck reports whether Entries[i] is an operation a violation could not
// place: the one to highlight.
func (v *Verdict[I, O]) Stuck(i int) bool {
	for _, x := range v.Violations {
		if x.Ops[x.Stuck] == i {
			return true
		}
	}
	return false
}

// Violation explains why the history of one partition is not
// linearizable. Indices are into Verdict.Entries.
type Violation struct {
	Partition string
	// Ops are the partition's operations, in call order.
	Ops []int
	// Prefix is the longest linearizable prefix found, in linearization
	// order: positions in Ops.
	Prefix []int
	// Stuck is the position in Ops of the operation that could not be
	// placed after Prefix: of those outside it, the first to return.
	Stuck int
	// State describes the state after Prefix, and Op the stuck operation.
	State, Op string
}

// String explains the violation in one line.
func (v Violation) String() string {
	return fmt.Sprintf("partition %q: after a linearizable prefix of %d ops the state is %s; %s cannot be placed",
		v.Partition, len(v.Prefix), v.State, v.Op)
}

// CheckModel checks that the operations in l are linearizable for m:
// that each can be given one instant between its call and its return (or
// after its call, or none, if pending) at which it took effect, so that
// every output the clients saw is what m, applying the operations one at
// a time in that order, answers. It is CheckLinearizable's search (see
// there for the algorithm and its bounds) for any model.
//
// It returns the verdict, and an error when the history is not proved
// linearizable: one describing the violations, or one matching
// ErrInconclusive when a bound or an overflow left it undecided and no
// violation was found. Inconclusive is never a pass. The budget is
// counted in search states, not time, so a check inside a synctest bubble
// (where time stands still while it computes) ends exactly where it would
// outside one, on every replay.
func CheckModel[S any, I comparable, O any](m Model[S, I, O], l *Log[I, O], opts LinearizableOptions) (*Verdict[I, O], error) {
	ops, overflow, cut := l.snapshot()
	return checkModel(m, ops, overflow, cut, opts)
}

func checkModel[S any, I comparable, O any](m Model[S, I, O], ops []Entry[I, O], overflow int, cut int64, opts LinearizableOptions) (*Verdict[I, O], error) {
	if m.Init == nil || m.Step == nil {
		return nil, errors.New("harness: CheckModel: the Model needs Init and Step")
	}
	if opts.MaxStates <= 0 {
		opts.MaxStates = DefaultMaxStates
	}
	if opts.MaxMemory <= 0 {
		opts.MaxMemory = DefaultMaxMemory
	}
	m.fill()
	v := &Verdict[I, O]{Entries: ops, Overflow: overflow, describeOp: m.DescribeOp}
	parts := map[string][]int{}
	for i := range ops {
		if cut > 0 && ops[i].Return > cut {
			ops[i].Return, ops[i].ReturnedAt = 0, time.Time{}
		}
		p := m.Partition(ops[i].Input)
		parts[p] = append(parts[p], i)
	}
	names := make([]string, 0, len(parts))
	for p := range parts {
		names = append(names, p)
	}
	// Small partitions first, so that one hard one cannot eat the budget
	// of all the easy ones.
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(parts[a]), len(parts[b])), cmp.Compare(a, b))
	})
	budget := opts.MaxStates
	for i, p := range names {
		if opts.FirstViolation && len(v.Violations) > 0 {
			v.Undecided = append(v.Undecided, fmt.Sprintf("partitions not checked: %d (stopped at the first violation: LinearizableOptions.FirstViolation)", len(names)-i))
			break
		}
		idx := parts[p]
		pops := make([]Entry[I, O], len(idx))
		for k, i := range idx {
			pops[k] = ops[i]
		}
		r := search(&m, pops, &budget, opts.MaxMemory)
		switch {
		case r.undecided != "":
			v.Undecided = append(v.Undecided, fmt.Sprintf("partition %q (%d ops): %s", p, len(idx), r.undecided))
		case !r.ok:
			st := m.Init()
			for _, k := range r.prefix {
				st, _ = m.Step(st, pops[k].Input, pops[k].Output, pops[k].Pending())
			}
			s := pops[r.stuck]
			v.Violations = append(v.Violations, Violation{
				Partition: p, Ops: idx, Prefix: r.prefix, Stuck: r.stuck,
				State: m.DescribeState(st), Op: m.DescribeOp(s.Input, s.Output, s.Pending()),
			})
		}
	}
	slices.Sort(v.Undecided)
	slices.SortFunc(v.Violations, func(a, b Violation) int { return cmp.Compare(a.Partition, b.Partition) })
	var notes []string
	if len(v.Undecided) > 0 {
		notes = append(notes, "undecided: "+strings.Join(v.Undecided, "; "))
	}
	if overflow > 0 {
		notes = append(notes, fmt.Sprintf("the log overflowed its limit of %d operations: %d calls were not recorded (raise Limit); "+
			"operations that returned after the first of them were checked as pending", len(ops), overflow))
	}
	switch {
	case len(v.Violations) > 0:
		var b strings.Builder
		fmt.Fprintf(&b, "harness: not linearizable: %d of %d partitions (%d operations recorded)", len(v.Violations), len(names), len(ops))
		for _, x := range v.Violations {
			b.WriteString("\n" + x.String())
		}
		for _, n := range notes {
			b.WriteString("\nnote: " + n)
		}
		return v, errors.New(b.String())
	case len(notes) > 0:
		return v, fmt.Errorf("%w: %s", ErrInconclusive, strings.Join(notes, "; "))
	}
	return v, nil
}

// fill sets the defaults of the optional fields.
func (m *Model[S, I, O]) fill() {
	if m.Equal == nil {
		m.Equal = func(a, b S) bool { return reflect.DeepEqual(a, b) }
	}
	if m.Hash == nil {
		m.Hash = func(s S) uint64 {
			h := fnv.New64a()
			fmt.Fprintf(h, "%#v", s)
			return h.Sum64()
		}
	}
	if m.Partition == nil {
		m.Partition = func(I) string { return "" }
	}
	if m.DescribeState == nil {
		m.DescribeState = func(s S) string { return fmt.Sprint(s) }
	}
	if m.DescribeOp == nil {
		m.DescribeOp = func(in I, out O, pending bool) string {
			if pending {
				return fmt.Sprintf("%v pending", in)
			}
			return fmt.Sprintf("%v → %v", in, out)
		}
	}
	if m.Size == nil {
		m.Size = func(S) int { return 64 }
	}
}
