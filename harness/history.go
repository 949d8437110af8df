package harness

import (
	"fmt"
	"strconv"
	"time"
)

// OpKind is what an operation on a key-value store does. Every key is a
// register that starts absent.
type OpKind int

const (
	// OpGet reads Op.Key; Result.Value and Result.Found are what it read.
	OpGet OpKind = iota
	// OpPut sets Op.Key to Op.Value; its Result is ignored.
	OpPut
	// OpDelete removes Op.Key; its Result is ignored.
	OpDelete
	// OpAppend appends Op.Value to the value of Op.Key (an absent key
	// counts as ""); its Result is ignored.
	OpAppend
	// OpCAS sets Op.Key to Op.Value if it holds Op.Old (present and equal);
	// Result.OK says whether it did.
	OpCAS
)

var opKindNames = [...]string{"get", "put", "delete", "append", "cas"}

// String returns the kind's name: "get", "put", "delete", "append", "cas".
func (k OpKind) String() string {
	if k >= 0 && int(k) < len(opKindNames) {
		return opKindNames[k]
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Op is the input of one operation on a key-value store.
type Op struct {
	Kind  OpKind
	Key   string
	Value string // OpPut and OpAppend: the value written; OpCAS: the new value
	Old   string // OpCAS: the value the key must hold for the swap
}

// String returns the operation as a call: put("x", "1"), get("x"),
// cas("x", "1"→"2").
func (o Op) String() string {
	switch o.Kind {
	case OpGet, OpDelete:
		return fmt.Sprintf("%v(%q)", o.Kind, o.Key)
	case OpCAS:
		return fmt.Sprintf("cas(%q, %q→%q)", o.Key, o.Old, o.Value)
	}
	return fmt.Sprintf("%v(%q, %q)", o.Kind, o.Key, o.Value)
}

// Result is the output of one operation, as the client saw it. Only the
// fields of the operation's kind are checked: Value and Found for OpGet
// (Value is ignored when Found is false), OK for OpCAS; OpPut, OpDelete
// and OpAppend have no output (a response is all they return).
type Result struct {
	Value string
	Found bool
	OK    bool
}

// Operation is one recorded operation: who, what, what came back, and
// when, in the history's logical ticks.
type Operation struct {
	Client int // the client's number, as given to Call
	Op     Op
	Result Result // meaningful only when the operation returned
	Call   int64  // tick of the invocation, from 1
	Return int64  // tick of the response; 0 while pending
	// CalledAt and ReturnedAt are when Call and Return were made, by
	// package time (the bubble's virtual clock inside one): for drawing
	// the operation on a timeline. Many operations share one instant;
	// the ticks, not these, order them. ReturnedAt is zero while pending.
	CalledAt, ReturnedAt time.Time
}

// Pending reports whether the operation never returned: its effect may
// have happened, or not.
func (o Operation) Pending() bool { return o.Return == 0 }

// String returns the operation and its result: get("x") → "1",
// put("x", "1") → done, cas("x", "1"→"2") → failed, or … pending.
func (o Operation) String() string {
	s := o.Op.String()
	if o.Pending() {
		return s + " pending"
	}
	switch o.Op.Kind {
	case OpGet:
		if !o.Result.Found {
			return s + " → absent"
		}
		return s + " → " + strconv.Quote(o.Result.Value)
	case OpCAS:
		if o.Result.OK {
			return s + " → ok"
		}
		return s + " → failed"
	}
	return s + " → done"
}

// DefaultHistoryLimit is how many operations a History records when its
// Limit is zero.
const DefaultHistoryLimit = 10000

// History records the operations that clients perform on a key-value
// store, for CheckLinearizable and WriteHTML.
//
//	var h harness.History
//	p := h.Call(1, harness.Op{Kind: harness.OpPut, Key: "x", Value: "1"})
//	if err := client.Put("x", "1"); err == nil {
//		p.Return(harness.Result{})
//	} // else leave it pending: the put may or may not have happened
//	...
//	if err := harness.CheckLinearizable(&h); err != nil { t.Fatal(err) }
//
// Call Call just before the request leaves the client, and Return just
// after its response arrived, so that the store acted between the two.
// An operation whose outcome is unknown (a timeout, a reset, a client
// that gave up) must not be Returned: it stays pending, and the checker
// lets it take effect at any point after its call, or never. Returning it
// with a guessed result would make the check wrong.
//
// # Time
//
// Time in a History is logical: every Call and every Return takes the
// next tick of the history's own clock, under its lock, so the ticks form
// one total order consistent with what really happened: when one
// operation returned before another was called, in whatever goroutines,
// its return tick is smaller than the other's call tick. Inside a
// synctest bubble many operations share one virtual instant, so time.Now
// could not tell their order; the clock can.
//
// # Limits
//
// A History records at most Limit operations. Beyond it Call records
// nothing and returns a handle whose Return does nothing; the overflow is
// counted, and CheckLinearizable then never reports a pass (see there).
//
// The zero value is an empty history ready to use. A History is safe for
// concurrent use, and so is a Pending.
type History struct {
	// Limit is the most operations recorded; zero means
	// DefaultHistoryLimit. Set it before the first Call.
	Limit int

	log Log[Op, Result] // the recording: a History is a key-value Log
}

// Pending is the handle of an operation that was called and has not yet
// returned. It is safe for concurrent use.
type Pending struct {
	h *Handle[Op, Result]
}

// Call records the invocation of input by client (any number naming the
// client, e.g. its goroutine's index) and returns the handle to Return
// its response with. It does not block, except on the history's lock.
func (h *History) Call(client int, input Op) *Pending {
	return &Pending{h.log.call(client, input, h.Limit)}
}

// Return records the response of the operation, with what the client got.
// Only the first Return of an operation counts; on the handle of a call
// that overflowed the history, Return does nothing.
func (p *Pending) Return(output Result) {
	if p != nil {
		p.h.Return(output)
	}
}

// Operations returns a copy of the recorded operations, in call order.
func (h *History) Operations() []Operation {
	return operations(h.log.Entries())
}

// Overflow returns how many calls were not recorded because the history
// was full.
func (h *History) Overflow() int {
	_, overflow, _ := h.log.snapshot()
	return overflow
}

func (h *History) snapshot() (ops []Operation, overflow int, cut int64) {
	es, overflow, cut := h.log.snapshot()
	return operations(es), overflow, cut
}

// Defaults of LinearizableOptions.
const (
	// DefaultMaxStates is the search states a check may try in total.
	DefaultMaxStates = 1_000_000
	// DefaultMaxMemory is the bytes the memo table of one key may take.
	DefaultMaxMemory = 256 << 20
)
