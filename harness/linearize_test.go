package harness_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// script builds a hand-made history event by event, naming operations so
// that calls and returns can interleave at will.
type script struct {
	t *testing.T
	h harness.History
	p map[string]*harness.Pending
}

func newScript(t *testing.T) *script { return &script{t: t, p: map[string]*harness.Pending{}} }

func (s *script) call(name string, client int, op harness.Op) *script {
	s.p[name] = s.h.Call(client, op)
	return s
}

func (s *script) ret(name string, r harness.Result) *script {
	require.Contains(s.t, s.p, name)
	s.p[name].Return(r)
	return s
}

// do is a call immediately followed by its return.
func (s *script) do(client int, op harness.Op, r harness.Result) *script {
	s.h.Call(client, op).Return(r)
	return s
}

func put(k, v string) harness.Op      { return harness.Op{Kind: harness.OpPut, Key: k, Value: v} }
func get(k string) harness.Op         { return harness.Op{Kind: harness.OpGet, Key: k} }
func del(k string) harness.Op         { return harness.Op{Kind: harness.OpDelete, Key: k} }
func appendOp(k, v string) harness.Op { return harness.Op{Kind: harness.OpAppend, Key: k, Value: v} }
func cas(k, old, v string) harness.Op {
	return harness.Op{Kind: harness.OpCAS, Key: k, Old: old, Value: v}
}

var (
	done   = harness.Result{}
	absent = harness.Result{}
	casOK  = harness.Result{OK: true}
	casNo  = harness.Result{OK: false}
)

func val(v string) harness.Result { return harness.Result{Value: v, Found: true} }

// violation asserts that err is a LinearizabilityError whose only failing
// key is key, and returns its violation.
func violation(t *testing.T, err error, key string) harness.KeyViolation {
	t.Helper()
	var le *harness.LinearizabilityError
	require.ErrorAs(t, err, &le)
	require.NotErrorIs(t, err, harness.ErrInconclusive)
	require.Len(t, le.Violations, 1, "%v", err)
	v := le.Violations[0]
	require.Equal(t, key, v.Key)
	return v
}

func TestLinearizableSequential(t *testing.T) {
	s := newScript(t).
		do(1, get("x"), absent).
		do(1, put("x", "1"), done).
		do(2, get("x"), val("1")).
		do(2, appendOp("x", "2"), done).
		do(3, get("x"), val("12")).
		do(3, cas("x", "1", "3"), casNo).
		do(1, cas("x", "12", "3"), casOK).
		do(1, get("x"), val("3")).
		do(2, del("x"), done).
		do(2, get("x"), absent).
		do(3, cas("x", "", "4"), casNo). // absent is not ""
		do(3, appendOp("x", "5"), done).
		do(1, get("x"), val("5")).
		do(1, get("y"), absent)
	require.NoError(t, harness.CheckLinearizable(&s.h))
	require.NoError(t, harness.CheckLinearizable(&harness.History{}), "the empty history")
}

func TestLinearizableConcurrentOverlap(t *testing.T) {
	// A read overlapping a write may see it or not; two reads overlapping
	// two writes may see them in either order, if consistently.
	s := newScript(t).
		do(1, put("x", "0"), done).
		call("w1", 1, put("x", "1")).
		call("w2", 2, put("x", "2")).
		call("r1", 3, get("x")).
		ret("r1", val("2")).
		call("r2", 3, get("x")).
		ret("w2", done).
		ret("r2", val("1")).
		ret("w1", done).
		do(3, get("x"), val("1")).
		// A read that overlaps a write and sees the value before it.
		call("w3", 1, put("x", "3")).
		do(2, get("x"), val("1")).
		do(2, get("x"), val("3")).
		ret("w3", done)
	require.NoError(t, harness.CheckLinearizable(&s.h))
}

func TestLinearizableConcurrentReadsDisagree(t *testing.T) {
	// Two writes overlap; once both are done the value is stable, so two
	// readers cannot see it change in opposite directions.
	s := newScript(t).
		call("w1", 1, put("x", "1")).
		call("w2", 2, put("x", "2")).
		ret("w1", done).
		ret("w2", done).
		call("a1", 3, get("x")).
		call("b1", 4, get("x")).
		ret("a1", val("1")).
		ret("b1", val("2"))
	v := violation(t, harness.CheckLinearizable(&s.h), "x")
	assert.Len(t, v.Prefix, 3)
}

func TestLinearizableStaleRead(t *testing.T) {
	s := newScript(t).
		do(1, put("x", "1"), done).
		do(1, put("y", "1"), done).
		do(1, put("x", "2"), done).
		do(2, get("y"), val("1")).
		do(2, get("x"), val("1"))
	err := harness.CheckLinearizable(&s.h)
	v := violation(t, err, "x")
	assert.Equal(t, []int{0, 1}, v.Prefix)
	assert.Equal(t, 2, v.Stuck)
	assert.Equal(t, harness.OpGet, v.Ops[v.Stuck].Op.Kind)
	msg := err.Error()
	t.Log(msg)
	assert.Contains(t, msg, `harness: not linearizable: 1 of 2 keys (5 operations recorded)`)
	assert.Contains(t, msg, `key "x": not linearizable (3 ops, 0 pending, 2 clients)`)
	assert.Contains(t, msg, `longest linearizable prefix: 2 ops: #1 #2`)
	assert.Contains(t, msg, `after it the key is "2"; #3 (client 2, get("x") → "1", returned at tick 10) cannot be placed: it would have seen "2"`)
	assert.Contains(t, msg, `#3   client 2        9..10     get("x") → "1"  <- cannot be placed`)
	assert.NotContains(t, msg, `key "y"`)
}

func TestLinearizablePendingWrite(t *testing.T) {
	base := func() *script {
		return newScript(t).
			do(1, put("x", "1"), done).
			call("w", 1, put("x", "2")) // never returns: timed out
	}
	// The pending write may never have happened…
	s := base().do(2, get("x"), val("1")).do(2, get("x"), val("1"))
	require.NoError(t, harness.CheckLinearizable(&s.h))
	// …or have happened, at any point after its call…
	s = base().do(2, get("x"), val("1")).do(2, get("x"), val("2")).do(3, get("x"), val("2"))
	require.NoError(t, harness.CheckLinearizable(&s.h))
	// …but only once: the value cannot go back.
	s = base().do(2, get("x"), val("2")).do(2, get("x"), val("1"))
	v := violation(t, harness.CheckLinearizable(&s.h), "x")
	assert.True(t, v.Ops[1].Pending())
	// And not before it was called.
	s = newScript(t).do(1, put("x", "1"), done).do(2, get("x"), val("2")).call("w", 1, put("x", "2"))
	violation(t, harness.CheckLinearizable(&s.h), "x")
	// A pending CAS may or may not have swapped.
	s = newScript(t).do(1, put("x", "1"), done).call("c", 2, cas("x", "1", "2")).do(3, get("x"), val("2"))
	require.NoError(t, harness.CheckLinearizable(&s.h))
	s = newScript(t).do(1, put("x", "1"), done).call("c", 2, cas("x", "0", "2")).do(3, get("x"), val("2"))
	violation(t, harness.CheckLinearizable(&s.h), "x")
}

func TestLinearizableLostWrite(t *testing.T) {
	// An acknowledged write that no later read sees.
	s := newScript(t).
		do(1, put("x", "1"), done).
		do(2, put("x", "2"), done).
		do(3, get("x"), val("1"))
	violation(t, harness.CheckLinearizable(&s.h), "x")
	// An acknowledged first write that is gone.
	s = newScript(t).do(1, put("x", "1"), done).do(2, get("x"), absent)
	v := violation(t, harness.CheckLinearizable(&s.h), "x")
	assert.Contains(t, v.String(), "it would have seen \"1\"")
	// An acknowledged append that is lost.
	s = newScript(t).do(1, appendOp("x", "a"), done).do(1, appendOp("x", "b"), done).do(2, get("x"), val("b"))
	violation(t, harness.CheckLinearizable(&s.h), "x")
}

func TestLinearizableEveryFailingKey(t *testing.T) {
	s := newScript(t)
	for _, k := range []string{"d", "a", "c", "b", "e"} {
		s.do(1, put(k, "1"), done).do(2, get(k), val("0"))
	}
	s.do(1, put("ok", "1"), done).do(2, get("ok"), val("1"))
	err := harness.CheckLinearizable(&s.h)
	var le *harness.LinearizabilityError
	require.ErrorAs(t, err, &le)
	var keys []string
	for _, v := range le.Violations {
		keys = append(keys, v.Key)
	}
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, keys)
	assert.Contains(t, err.Error(), `harness: not linearizable: 5 of 6 keys`)
	assert.Contains(t, err.Error(), "\nand keys \"d\", \"e\"")
}

func TestLinearizableInconclusive(t *testing.T) {
	// Many overlapping writes and reads: more states than the bound.
	var h harness.History
	var ps []*harness.Pending
	for i := range 8 {
		ps = append(ps, h.Call(i, put("x", fmt.Sprint(i))))
	}
	for i := range 8 {
		ps = append(ps, h.Call(100+i, get("x")))
	}
	for i, p := range ps {
		if i < 8 {
			p.Return(done)
		} else {
			p.Return(val(fmt.Sprint(i % 8)))
		}
	}
	err := harness.CheckLinearizableWith(&h, harness.LinearizableOptions{MaxStates: 50})
	require.ErrorIs(t, err, harness.ErrInconclusive)
	assert.Contains(t, err.Error(), `key "x" (16 ops): search bound hit`)
	err = harness.CheckLinearizableWith(&h, harness.LinearizableOptions{MaxMemory: 1000})
	require.ErrorIs(t, err, harness.ErrInconclusive)
	assert.Contains(t, err.Error(), "memory bound hit")
	// Unbounded, the history is fine.
	require.NoError(t, harness.CheckLinearizable(&h))
	// A violation elsewhere is still definite.
	h.Call(1, put("y", "1")).Return(done)
	h.Call(1, get("y")).Return(absent)
	err = harness.CheckLinearizableWith(&h, harness.LinearizableOptions{MaxStates: 50})
	violation(t, err, "y")
	assert.Contains(t, err.Error(), "note: undecided: key \"x\"")
}

func TestLinearizableOverflow(t *testing.T) {
	h := harness.History{Limit: 4}
	h.Call(1, put("x", "1")).Return(done)
	late := h.Call(2, get("x")) // recorded, returns after the overflow
	h.Call(1, put("x", "2")).Return(done)
	h.Call(1, put("x", "3")).Return(done) // fourth op: full
	over := h.Call(1, put("x", "4"))      // not recorded
	over.Return(done)                     // and harmless
	late.Return(val("4"))                 // explained by the unrecorded put: pending for the check
	require.Equal(t, 1, h.Overflow())
	require.Len(t, h.Operations(), 4)
	err := harness.CheckLinearizable(&h)
	require.ErrorIs(t, err, harness.ErrInconclusive, "an overflowing history never passes")
	assert.Contains(t, err.Error(), "overflowed its limit of 4 operations: 1 calls were not recorded")
	// A violation within the recorded part is still reported as one.
	h2 := harness.History{Limit: 2}
	h2.Call(1, put("x", "1")).Return(done)
	h2.Call(1, get("x")).Return(absent)
	h2.Call(1, get("x")).Return(absent)
	v := violation(t, harness.CheckLinearizable(&h2), "x")
	assert.Len(t, v.Ops, 2)
}

func TestHistoryReturnOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var h harness.History
		start := time.Now()
		p := h.Call(7, get("x"))
		time.Sleep(time.Second)
		p.Return(absent)
		p.Return(val("late")) // ignored
		ops := h.Operations()
		require.Len(t, ops, 1)
		assert.Equal(t, harness.Operation{Client: 7, Op: get("x"), Result: absent, Call: 1, Return: 2,
			CalledAt: start, ReturnedAt: start.Add(time.Second)}, ops[0])
		assert.False(t, ops[0].Pending())
	})
}

func TestHistoryNilPending(t *testing.T) {
	var nilPending *harness.Pending
	nilPending.Return(done) // no panic
}

func TestHistoryConcurrentUse(t *testing.T) {
	// Clients record concurrently against a locked map: the history is
	// linearizable, whatever the scheduling.
	var h harness.History
	var mu sync.Mutex
	m := map[string]string{}
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for i := range 100 {
				k := fmt.Sprint(i % 3)
				if i%2 == 0 {
					p := h.Call(c, put(k, fmt.Sprintf("%d-%d", c, i)))
					mu.Lock()
					m[k] = fmt.Sprintf("%d-%d", c, i)
					mu.Unlock()
					p.Return(done)
				} else {
					p := h.Call(c, get(k))
					mu.Lock()
					v, ok := m[k]
					mu.Unlock()
					p.Return(harness.Result{Value: v, Found: ok})
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, h.Operations(), 800)
	require.NoError(t, harness.CheckLinearizable(&h))
}

func TestLinearizableLargeHistory(t *testing.T) {
	// A full history (10000 ops) of 4 clients on 5 keys, recorded from a
	// simulated linearizable store, with some pending ops: fast.
	rng := rand.New(rand.NewPCG(1, 2))
	h := simulate(rng, 4, harness.DefaultHistoryLimit, []string{"a", "b", "c", "d", "e"}, 0.01)
	require.Len(t, h.Operations(), harness.DefaultHistoryLimit)
	start := time.Now()
	require.NoError(t, harness.CheckLinearizable(h))
	t.Logf("checked %d ops in %v", harness.DefaultHistoryLimit, time.Since(start))
}

func TestHistoryWriteHTML(t *testing.T) {
	s := newScript(t).
		do(1, put("x", "1"), done).
		call("w", 2, put("x", "<b>2</b>")).
		do(3, get("x"), val("<b>2</b>")).
		do(1, get("x"), val("1")).
		do(1, put("y", "a&b"), done).
		do(2, cas("y", "a&b", "c"), casOK)
	err := harness.CheckLinearizable(&s.h)
	violation(t, err, "x")
	path := filepath.Join(t.TempDir(), "history.html")
	require.NoError(t, s.h.WriteHTMLFile(path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	page := string(b)
	assert.Contains(t, page, "<!DOCTYPE html>")
	assert.Contains(t, page, "History: 6 operations on 2 keys")
	assert.Contains(t, page, `key &#34;x&#34; — 4 ops — not linearizable`)
	assert.Contains(t, page, `class="op stuck"`)
	assert.Contains(t, page, `class="op pending fail"`)
	assert.Contains(t, page, "put &lt;b&gt;2&lt;/b&gt; ?", "values are escaped")
	assert.NotContains(t, page, "<b>2</b>")
	assert.Contains(t, page, "cas a&amp;b→c ok")
	assert.Contains(t, page, "style=\"left:0.000%;width:")
	t.Logf("wrote %s (%d bytes)", path, len(b))

	// Without a check, WriteHTML runs one.
	var h harness.History
	h.Call(1, put("k", "v")).Return(done)
	var sb strings.Builder
	require.NoError(t, h.WriteHTML(&sb))
	assert.Contains(t, sb.String(), "<b>linearizable</b>")
	assert.NotContains(t, sb.String(), "op fail")
}

// ExampleCheckLinearizable records a stale read: a write is acknowledged,
// and then a read still sees the old value.
func ExampleCheckLinearizable() {
	var h harness.History
	h.Call(1, harness.Op{Kind: harness.OpPut, Key: "x", Value: "old"}).Return(harness.Result{})
	h.Call(1, harness.Op{Kind: harness.OpPut, Key: "x", Value: "new"}).Return(harness.Result{})
	read := h.Call(2, harness.Op{Kind: harness.OpGet, Key: "x"})
	read.Return(harness.Result{Value: "old", Found: true})
	fmt.Println(harness.CheckLinearizable(&h))
	// Output:
	// harness: not linearizable: 1 of 1 keys (3 operations recorded)
	// key "x": not linearizable (3 ops, 0 pending, 2 clients)
	//   longest linearizable prefix: 2 ops: #1 #2
	//   after it the key is "new"; #3 (client 2, get("x") → "old", returned at tick 6) cannot be placed: it would have seen "new"
	//   ops in real-time order (ticks call..return; 3 of 3 shown):
	//     #1   client 1        1..2      put("x", "old") → done  (prefix 1)
	//     #2   client 1        3..4      put("x", "new") → done  (prefix 2)
	//     #3   client 2        5..6      get("x") → "old"  <- cannot be placed
}

// ---- generated histories ----

// simOp is an operation of a simulated client.
type simOp struct {
	p   *harness.Pending
	op  harness.Op
	res harness.Result
}

// applyMap applies op to m, a real map, and returns its result.
func applyMap(m map[string]string, op harness.Op) harness.Result {
	v, ok := m[op.Key]
	switch op.Kind {
	case harness.OpGet:
		return harness.Result{Value: v, Found: ok}
	case harness.OpPut:
		m[op.Key] = op.Value
	case harness.OpDelete:
		delete(m, op.Key)
	case harness.OpAppend:
		m[op.Key] = v + op.Value
	case harness.OpCAS:
		if ok && v == op.Old {
			m[op.Key] = op.Value
			return harness.Result{OK: true}
		}
	}
	return harness.Result{}
}

func randomOp(pick func(n int) int, keys []string, values []string) harness.Op {
	op := harness.Op{
		Kind:  harness.OpKind(pick(5)),
		Key:   keys[pick(len(keys))],
		Value: values[pick(len(values))],
		Old:   values[pick(len(values))],
	}
	if op.Kind != harness.OpPut && op.Kind != harness.OpAppend && op.Kind != harness.OpCAS {
		op.Value = ""
	}
	if op.Kind != harness.OpCAS {
		op.Old = ""
	}
	return op
}

// simulate records n operations of clients on a simulated linearizable
// store: each operation is called, takes effect at some later step, and
// returns at a still later one; with probability giveUp a client abandons
// an operation, before or after it took effect (if before, it may still
// take effect later, or never), and goes on with the next.
func simulate(rng *rand.Rand, clients, n int, keys []string, giveUp float64) *harness.History {
	h := &harness.History{}
	m := map[string]string{}
	values := []string{"1", "2", "3"}
	type client struct {
		cur              *simOp
		applied, abandon bool
	}
	cs := make([]client, clients)
	var floating []*simOp // abandoned, not yet applied
	for started := 0; started < n || slices.ContainsFunc(cs, func(c client) bool { return c.cur != nil }); {
		if len(floating) > 0 && rng.Float64() < 0.05 {
			i := rng.IntN(len(floating))
			applyMap(m, floating[i].op)
			floating = append(floating[:i], floating[i+1:]...)
		}
		id := rng.IntN(clients)
		c := &cs[id]
		switch {
		case c.cur == nil && started < n:
			op := randomOp(rng.IntN, keys, values)
			c.cur = &simOp{p: h.Call(id, op), op: op}
			c.applied = false
			c.abandon = rng.Float64() < giveUp
			started++
		case c.cur != nil && c.abandon && (c.applied || rng.IntN(2) == 0):
			if !c.applied {
				floating = append(floating, c.cur)
			}
			c.cur = nil
		case c.cur != nil && !c.applied:
			c.cur.res = applyMap(m, c.cur.op)
			c.applied = true
		case c.cur != nil:
			c.cur.p.Return(c.cur.res)
			c.cur = nil
		}
	}
	return h
}

// TestLinearizableSequentialProperty: a sequential history recorded from
// a real map is linearizable; the same history with one read's (or one
// CAS's) result changed is not, and the explanation points at it.
func TestLinearizableSequentialProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		keys := []string{"a", "b", "c"}
		values := []string{"1", "2", "3"}
		n := rapid.IntRange(1, 60).Draw(t, "ops")
		pick := func(k int) int { return rapid.IntRange(0, k-1).Draw(t, "pick") }
		m := map[string]string{}
		var ops []harness.Op
		var res []harness.Result
		for range n {
			op := randomOp(pick, keys, values)
			ops = append(ops, op)
			res = append(res, applyMap(m, op))
		}
		var checked []int // reads and CASes
		for i, op := range ops {
			if op.Kind == harness.OpGet || op.Kind == harness.OpCAS {
				checked = append(checked, i)
			}
		}
		record := func(corrupt int, bad harness.Result) *harness.History {
			var h harness.History
			for i, op := range ops {
				r := res[i]
				if i == corrupt {
					r = bad
				}
				h.Call(pick(3), op).Return(r)
			}
			return &h
		}
		require.NoError(t, harness.CheckLinearizable(record(-1, harness.Result{})))
		if len(checked) == 0 {
			return
		}
		c := checked[rapid.IntRange(0, len(checked)-1).Draw(t, "corrupt")]
		bad := res[c]
		switch {
		case ops[c].Kind == harness.OpCAS:
			bad.OK = !bad.OK
		case bad.Found && rapid.Bool().Draw(t, "lose it"):
			bad = harness.Result{}
		default:
			bad = harness.Result{Found: true, Value: rapid.SampledFrom([]string{"1", "2", "3", "x"}).Filter(func(s string) bool {
				return !bad.Found || s != bad.Value
			}).Draw(t, "bad value")}
		}
		h := record(c, bad)
		err := harness.CheckLinearizable(h)
		var le *harness.LinearizabilityError
		require.ErrorAs(t, err, &le)
		require.Len(t, le.Violations, 1)
		v := le.Violations[0]
		require.Equal(t, ops[c].Key, v.Key)
		require.Equal(t, h.Operations()[c].Call, v.Ops[v.Stuck].Call, "stuck at the wrong op:\n%v", err)
		require.Len(t, v.Prefix, v.Stuck, "the prefix is every op of the key before the corrupted one")
	})
}

// TestLinearizableConcurrentProperty: concurrent histories recorded from
// a simulated linearizable store, with overlapping and abandoned
// operations, are never reported as violations, and are decided within
// the default bound but in rare adversarial cases (many abandoned
// operations on one key with few distinct values and appends: the
// search is exponential in those; about 1 in 5000 cases here).
func TestLinearizableConcurrentProperty(t *testing.T) {
	var cases, undecided int
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		clients := rapid.IntRange(1, 5).Draw(t, "clients")
		n := rapid.IntRange(1, 80).Draw(t, "ops")
		keys := []string{"a", "b"}[:rapid.IntRange(1, 2).Draw(t, "keys")]
		giveUp := rapid.SampledFrom([]float64{0, 0.05, 0.2}).Draw(t, "give up")
		h := simulate(rand.New(rand.NewPCG(seed, 0)), clients, n, keys, giveUp)
		err := harness.CheckLinearizable(h)
		cases++
		if errors.Is(err, harness.ErrInconclusive) {
			undecided++
			return
		}
		require.NoError(t, err)
	})
	t.Logf("%d of %d cases undecided", undecided, cases)
	require.LessOrEqual(t, undecided*50, cases, "more than 2%% of the cases undecided")
}

// bruteForce decides linearizability of one key's operations by trying
// every order of every set of operations that holds all returned ones,
// with no memo and no cleverness.
func bruteForce(ops []harness.Operation) bool {
	var placed []int
	used := make([]bool, len(ops))
	var try func() bool
	valid := func() bool {
		// Real time: nothing placed after an op that returned before its call.
		for a := range placed {
			for b := a + 1; b < len(placed); b++ {
				if r := ops[placed[b]].Return; r != 0 && r < ops[placed[a]].Call {
					return false
				}
			}
		}
		for i, o := range ops { // every unplaced returned op must come later, after all placed ones' calls
			if !used[i] && o.Return != 0 {
				for _, p := range placed {
					if o.Return < ops[p].Call {
						return false
					}
				}
			}
		}
		m := map[string]string{}
		for _, p := range placed {
			r := applyMap(m, ops[p].Op)
			o := ops[p]
			if o.Return == 0 {
				continue
			}
			switch o.Op.Kind {
			case harness.OpGet:
				if r.Found != o.Result.Found || r.Found && r.Value != o.Result.Value {
					return false
				}
			case harness.OpCAS:
				if r.OK != o.Result.OK {
					return false
				}
			}
		}
		return true
	}
	try = func() bool {
		if !valid() {
			return false
		}
		complete := true
		for i, o := range ops {
			if !used[i] && o.Return != 0 {
				complete = false
			}
		}
		if complete {
			return true
		}
		for i := range ops {
			if used[i] {
				continue
			}
			used[i] = true
			placed = append(placed, i)
			if try() {
				return true
			}
			placed = placed[:len(placed)-1]
			used[i] = false
		}
		return false
	}
	return try()
}

// TestLinearizableMatchesBruteForce compares the checker with brute force
// on small random histories of one key, half of them not linearizable,
// and checks that every explanation's prefix is a real linearizable
// prefix.
func TestLinearizableMatchesBruteForce(t *testing.T) {
	var yes, no int
	// A fixed set of small histories (not rapid's random ones), so that
	// the counts asserted below are the same on every run.
	for seed := range uint64(400) {
		rng := rand.New(rand.NewPCG(seed, 1))
		clients := 1 + rng.IntN(3)
		n := 1 + rng.IntN(7)
		h := simulate(rng, clients, n, []string{"k"}, 0.3)
		// Perturb results so that many histories are not linearizable.
		ops := h.Operations()
		var g harness.History
		order := map[int64]*harness.Pending{}
		var events []int64
		for _, o := range ops {
			events = append(events, o.Call)
			if !o.Pending() {
				events = append(events, o.Return)
			}
		}
		slices.Sort(events)
		byTick := map[int64]int{}
		for i, o := range ops {
			byTick[o.Call] = i
			if !o.Pending() {
				byTick[o.Return] = i
			}
		}
		for _, tick := range events {
			i := byTick[tick]
			o := &ops[i]
			if tick == o.Call {
				order[o.Call] = g.Call(o.Client, o.Op)
				continue
			}
			if rng.Float64() < 0.3 {
				o.Result = harness.Result{Value: fmt.Sprint(rng.IntN(3) + 1), Found: rng.IntN(4) > 0, OK: rng.IntN(2) == 0}
			}
			order[o.Call].Return(o.Result)
		}
		want := bruteForce(g.Operations())
		err := harness.CheckLinearizable(&g)
		if want {
			yes++
			require.NoError(t, err, "brute force found a linearization")
			continue
		}
		no++
		var le *harness.LinearizabilityError
		require.ErrorAs(t, err, &le, "brute force found none")
		v := le.Violations[0]
		prefix := make([]harness.Operation, 0, len(v.Prefix))
		for _, i := range v.Prefix {
			prefix = append(prefix, v.Ops[i])
		}
		// The prefix, with every op outside it pending, must be linearizable.
		var rest []harness.Operation
		in := map[int]bool{}
		for _, i := range v.Prefix {
			in[i] = true
		}
		for i, o := range v.Ops {
			if !in[i] {
				o.Return = 0
				rest = append(rest, o)
			}
		}
		require.True(t, bruteForce(append(prefix, rest...)), "the reported prefix is not linearizable")
		require.False(t, in[v.Stuck])
		require.False(t, v.Ops[v.Stuck].Pending())
	}
	t.Logf("%d linearizable, %d not", yes, no)
	assert.Greater(t, yes, 10)
	assert.Greater(t, no, 10)
}

// ---- a key-value service over netsim, and its stale-read twin ----

// kvServer serves a text protocol, one request per line: "GET k" answers
// "VALUE v" or "NOTFOUND", "PUT k v" answers "OK". Every operation is
// applied to one map under a lock: a linearizable store. If replicate is
// set, every PUT is also sent on it, to be applied by a replica later.
type kvServer struct {
	mu        sync.Mutex
	data      map[string]string
	replicate chan string // guarded by mu for sends (buffered, never full)
}

func newKV() *kvServer { return &kvServer{data: map[string]string{}} }

func (s *kvServer) serve(ln net.Listener) { serveLines(ln, s.exec) }

func (s *kvServer) exec(req string) string {
	f := strings.Fields(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(f) == 2 && f[0] == "GET":
		if v, ok := s.data[f[1]]; ok {
			return "VALUE " + v
		}
		return "NOTFOUND"
	case len(f) == 3 && f[0] == "PUT":
		s.data[f[1]] = f[2]
		if s.replicate != nil {
			s.replicate <- req
		}
		return "OK"
	}
	return "ERR bad request"
}

// replicateTo sends the primary's writes to the replica's port 81 over
// one connection, until the network closes. The replica applies them as
// they arrive: asynchronous replication.
func replicateTo(n *netsim.Network, from *netsim.Host, ch <-chan string) {
	c, err := from.Dial("tcp", "replica:81")
	if err != nil {
		return
	}
	defer c.Close()
	for {
		select {
		case req := <-ch:
			if _, err := fmt.Fprintf(c, "%s\n", req); err != nil {
				return
			}
		case <-n.Done():
			return
		}
	}
}

// applyStream applies the PUT lines of a replication stream.
func (s *kvServer) applyStream(ln net.Listener) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		s.exec(strings.TrimSpace(line))
	}
}

// kvConn is a client's connection to one server, redialed after errors.
type kvConn struct {
	host *netsim.Host
	addr string
	c    net.Conn
	r    *bufio.Reader
}

// do sends req and returns the response line. On any error the
// connection is dropped and the operation's outcome is unknown.
func (k *kvConn) do(req string) (string, error) {
	if k.c == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := k.host.DialContext(ctx, "tcp", k.addr)
		cancel()
		if err != nil {
			return "", err
		}
		k.c, k.r = c, bufio.NewReader(c)
	}
	k.c.SetDeadline(time.Now().Add(time.Second))
	_, err := fmt.Fprintf(k.c, "%s\n", req)
	var line string
	if err == nil {
		line, err = k.r.ReadString('\n')
	}
	if err != nil {
		k.c.Close()
		k.c = nil
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// kvClient runs ops random gets and puts on keys x and y, with a random
// think time below think before each, recording them in h. Reads go to readAddr,
// writes to writeAddr.
func kvClient(h *harness.History, host *netsim.Host, id int, seed uint64, ops int, think time.Duration, writeAddr, readAddr string) {
	rng := rand.New(rand.NewPCG(seed, uint64(id)))
	w := &kvConn{host: host, addr: writeAddr}
	r := w
	if readAddr != writeAddr {
		r = &kvConn{host: host, addr: readAddr}
	}
	defer func() {
		for _, k := range []*kvConn{w, r} {
			if k.c != nil {
				k.c.Close()
			}
		}
	}()
	for i := range ops {
		time.Sleep(time.Duration(rng.Int64N(int64(think))))
		key := []string{"x", "y"}[rng.IntN(2)]
		if rng.IntN(2) == 0 {
			v := fmt.Sprintf("c%d.%d", id, i)
			p := h.Call(id, put(key, v))
			if resp, err := w.do("PUT " + key + " " + v); err == nil && resp == "OK" {
				p.Return(done)
			}
			continue
		}
		p := h.Call(id, get(key))
		resp, err := r.do("GET " + key)
		switch {
		case err != nil:
		case resp == "NOTFOUND":
			p.Return(absent)
		case strings.HasPrefix(resp, "VALUE "):
			p.Return(val(strings.TrimPrefix(resp, "VALUE ")))
		}
	}
}

// kvRun runs the key-value service on n, three clients c1..c3 with the
// given seed against it, and returns their history. With stale, reads
// are served by a replica that the primary updates asynchronously over a
// 50ms link: the buggy twin.
func kvRun(t *testing.T, n *netsim.Network, seed uint64, stale bool) *harness.History {
	primary := newKV()
	ln, err := n.Host("server").Listen("tcp", ":80")
	require.NoError(t, err)
	go primary.serve(ln)
	readAddr := "server:80"
	if stale {
		replica := newKV()
		rln, err := n.Host("replica").Listen("tcp", ":81")
		require.NoError(t, err)
		go replica.applyStream(rln)
		cln, err := n.Host("replica").Listen("tcp", ":80")
		require.NoError(t, err)
		go replica.serve(cln)
		require.NoError(t, n.SetLink("server", "replica", latency(n, 50*time.Millisecond)))
		primary.replicate = make(chan string, 1024)
		go replicateTo(n, n.Host("server"), primary.replicate)
		readAddr = "replica:80"
	}
	for c := 1; c <= 3; c++ {
		for _, srv := range []string{"server", "replica"} {
			require.NoError(t, n.SetLink(fmt.Sprintf("c%d", c), srv, latency(n, time.Duration(c)*time.Millisecond)))
			require.NoError(t, n.SetLink(srv, fmt.Sprintf("c%d", c), latency(n, 2*time.Millisecond)))
		}
	}
	var h harness.History
	var wg sync.WaitGroup
	for c := 1; c <= 3; c++ {
		wg.Go(func() {
			kvClient(&h, n.Host(fmt.Sprintf("c%d", c)), c, seed, 30, 30*time.Millisecond, "server:80", readAddr)
		})
	}
	wg.Wait()
	return &h
}

// latency is n's default profile (-headwind.faults) plus d of latency.
func latency(n *netsim.Network, d time.Duration) faultconn.Profile {
	p := n.Config().Default
	p.Latency += d
	return p
}

const kvSeeds = 20

// TestLinearizableKVStore: the single-copy store passes for every seed.
func TestLinearizableKVStore(t *testing.T) {
	failures := 0
	for seed := range uint64(kvSeeds) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			harness.Run(t, func(t *testing.T, n *netsim.Network) {
				h := kvRun(t, n, seed, false)
				ops := h.Operations()
				require.Len(t, ops, 90)
				if err := harness.CheckLinearizable(h); err != nil {
					failures++
					t.Errorf("the linearizable store failed the check: %v", err)
				}
			})
		})
	}
	t.Logf("false positives: %d of %d seeds", failures, kvSeeds)
}

// TestLinearizableKVStaleTwin: the twin that reads from an asynchronous
// replica is caught for every seed. Its violations are the expected
// outcome, asserted here; they do not fail the test.
func TestLinearizableKVStaleTwin(t *testing.T) {
	detected := 0
	for seed := range uint64(kvSeeds) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			harness.Run(t, func(t *testing.T, n *netsim.Network) {
				h := kvRun(t, n, seed, true)
				err := harness.CheckLinearizable(h)
				var le *harness.LinearizabilityError
				if !errors.As(err, &le) {
					t.Errorf("the stale-read twin passed the check (err = %v)", err)
					return
				}
				detected++
				v := le.Violations[0]
				require.Equal(t, harness.OpGet, v.Ops[v.Stuck].Op.Kind, "a stale read is what cannot be placed")
				if seed == 0 {
					t.Logf("caught, as it should be:\n%v", err)
					path := filepath.Join(t.TempDir(), "stale.html")
					require.NoError(t, h.WriteHTMLFile(path))
					b, err := os.ReadFile(path)
					require.NoError(t, err)
					require.Contains(t, string(b), `class="op stuck"`)
				}
			})
		})
	}
	t.Logf("detected: %d of %d seeds", detected, kvSeeds)
	require.Equal(t, kvSeeds, detected)
}

// TestLinearizableKVStoreUnderNemesis: the single-copy store stays
// linearizable under every fault and nemesis schedule harness.Check
// draws (partitions, isolations, degraded links, resets), its clients
// leaving the operations they could not finish pending.
func TestLinearizableKVStoreUnderNemesis(t *testing.T) {
	var cases, pending int
	harness.Check(t, func(t *harness.T) {
		n := t.Net
		ln, err := n.Host("server").Listen("tcp", ":80")
		if err != nil {
			t.Fatal(err)
		}
		go newKV().serve(ln)
		var h harness.History
		var wg sync.WaitGroup
		for c := 1; c <= 3; c++ {
			wg.Go(func() {
				kvClient(&h, n.Host(fmt.Sprintf("c%d", c)), c, t.Seed, 25, 400*time.Millisecond, "server:80", "server:80")
			})
		}
		wg.Wait()
		for _, o := range h.Operations() {
			if o.Pending() {
				pending++
			}
		}
		cases++
		if err := harness.CheckLinearizable(&h); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%d cases, %d operations left pending by faults", cases, pending)
}

// TestFirstViolation: with FirstViolation the check stops at the first
// key it proves not linearizable and says how many it left unchecked;
// without it, it reports every violating key.
func TestFirstViolation(t *testing.T) {
	var h harness.History
	for _, key := range []string{"a", "b", "c"} {
		h.Call(0, harness.Op{Kind: harness.OpPut, Key: key, Value: "1"}).Return(harness.Result{})
		h.Call(1, harness.Op{Kind: harness.OpGet, Key: key}).Return(harness.Result{}) // misses the put
	}
	var all, first *harness.LinearizabilityError
	require.ErrorAs(t, harness.CheckLinearizable(&h), &all)
	require.Len(t, all.Violations, 3)
	require.Empty(t, all.Notes)
	require.ErrorAs(t, harness.CheckLinearizableWith(&h, harness.LinearizableOptions{FirstViolation: true}), &first)
	require.Len(t, first.Violations, 1)
	require.Equal(t, "a", first.Violations[0].Key)
	require.Equal(t, []string{"undecided: keys not checked: 2 (stopped at the first violation: LinearizableOptions.FirstViolation)"}, first.Notes)
}
