package harness

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
)

// QueueOp is an operation on a FIFO queue, for QueueModel: Enqueue Value
// when Dequeue is false, else take the head.
type QueueOp struct {
	Dequeue bool
	Value   string // Enqueue's value
}

// QueueResult is what a queue operation returned: the dequeued Value, or
// Empty when the queue had nothing. Enqueue returns nothing.
type QueueResult struct {
	Value string
	Empty bool
}

// QueueModel is a FIFO queue that starts empty: Enqueue appends, Dequeue
// takes the oldest value or reports Empty. Its state is the queued
// values, oldest first.
func QueueModel() Model[[]string, QueueOp, QueueResult] {
	return Model[[]string, QueueOp, QueueResult]{
		Init: func() []string { return nil },
		Step: func(q []string, in QueueOp, out QueueResult, pending bool) ([]string, bool) {
			if !in.Dequeue {
				return append(slices.Clip(q), in.Value), true
			}
			if len(q) == 0 {
				return q, pending || out.Empty
			}
			return q[1:], pending || !out.Empty && out.Value == q[0]
		},
		Equal:         slices.Equal[[]string],
		Hash:          hashStrings,
		DescribeState: describeStrings,
		DescribeOp: func(in QueueOp, out QueueResult, pending bool) string {
			s := "enqueue(" + strconv.Quote(in.Value) + ")"
			if in.Dequeue {
				s = "dequeue()"
			}
			switch {
			case pending:
				return s + " pending"
			case !in.Dequeue:
				return s + " → done"
			case out.Empty:
				return s + " → empty"
			}
			return s + " → " + strconv.Quote(out.Value)
		},
		Size: func(q []string) int { return sizeStrings(q) },
	}
}

// SetKind is what a set operation does.
type SetKind int

const (
	// SetAdd adds Value.
	SetAdd SetKind = iota
	// SetRemove removes Value.
	SetRemove
	// SetContains asks whether Value is in the set.
	SetContains
)

// SetOp is an operation on a set of strings, for SetModel.
type SetOp struct {
	Kind  SetKind
	Value string
}

// SetResult is what a set operation returned: for SetContains whether the
// value was present; add and remove return nothing.
type SetResult struct {
	Present bool
}

// SetModel is a set of strings that starts empty. Each value is
// independent of the others, so the check partitions by value. Its state
// is the value's presence.
func SetModel() Model[bool, SetOp, SetResult] {
	names := [...]string{"add", "remove", "contains"}
	return Model[bool, SetOp, SetResult]{
		Init: func() bool { return false },
		Step: func(in bool, op SetOp, out SetResult, pending bool) (bool, bool) {
			switch op.Kind {
			case SetAdd:
				return true, true
			case SetRemove:
				return false, true
			case SetContains:
				return in, pending || out.Present == in
			}
			return in, false
		},
		Equal:     func(a, b bool) bool { return a == b },
		Hash:      func(b bool) uint64 { return map[bool]uint64{false: 0, true: 1}[b] },
		Partition: func(op SetOp) string { return op.Value },
		DescribeState: func(in bool) string {
			if in {
				return "present"
			}
			return "absent"
		},
		DescribeOp: func(op SetOp, out SetResult, pending bool) string {
			name := fmt.Sprintf("SetKind(%d)", int(op.Kind))
			if op.Kind >= 0 && int(op.Kind) < len(names) {
				name = names[op.Kind]
			}
			s := name + "(" + strconv.Quote(op.Value) + ")"
			switch {
			case pending:
				return s + " pending"
			case op.Kind != SetContains:
				return s + " → done"
			}
			return s + " → " + strconv.FormatBool(out.Present)
		},
		Size: func(bool) int { return 1 },
	}
}

func hashStrings(q []string) uint64 {
	h := fnv.New64a()
	for _, s := range q {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func describeStrings(q []string) string {
	quoted := make([]string, len(q))
	for i, s := range q {
		quoted[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(quoted, " ") + "]"
}

func sizeStrings(q []string) int {
	n := 16 * len(q)
	for _, s := range q {
		n += len(s)
	}
	return n
}
