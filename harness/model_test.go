package harness_test

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
)

func enq(v string) harness.QueueOp { return harness.QueueOp{Value: v} }

var deq = harness.QueueOp{Dequeue: true}

// queue is a queue service under test: FIFO, or LIFO (the buggy twin).
type queue struct {
	mu   sync.Mutex
	vals []string
	lifo bool
}

func (q *queue) enqueue(v string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.vals = append(q.vals, v)
}

func (q *queue) dequeue() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.vals) == 0 {
		return "", false
	}
	i := 0
	if q.lifo {
		i = len(q.vals) - 1
	}
	v := q.vals[i]
	q.vals = append(q.vals[:i], q.vals[i+1:]...)
	return v, true
}

// runQueue has three producers and two consumers use q concurrently,
// with virtual-time gaps between their operations, and records the log.
func runQueue(t *testing.T, q *queue) *harness.Log[harness.QueueOp, harness.QueueResult] {
	var log harness.Log[harness.QueueOp, harness.QueueResult]
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		for p := range 3 {
			wg.Go(func() {
				for i := range 4 {
					time.Sleep(time.Duration(10*p+7*i) * time.Millisecond)
					v := fmt.Sprintf("p%d.%d", p, i)
					h := log.Call(p, enq(v))
					q.enqueue(v)
					h.Return(harness.QueueResult{})
				}
			})
		}
		for c := range 2 {
			wg.Go(func() {
				for i := range 8 {
					time.Sleep(time.Duration(13+5*c+3*i) * time.Millisecond)
					h := log.Call(10+c, deq)
					v, ok := q.dequeue()
					h.Return(harness.QueueResult{Value: v, Empty: !ok})
				}
			})
		}
		wg.Wait()
	})
	return &log
}

// TestQueueModelTwins: the FIFO queue's history is linearizable; the LIFO
// twin's is not, and the verdict points at a dequeue.
func TestQueueModelTwins(t *testing.T) {
	good := runQueue(t, &queue{})
	v, err := harness.CheckModel(harness.QueueModel(), good, harness.LinearizableOptions{})
	require.NoError(t, err)
	require.True(t, v.Linearizable())

	bad := runQueue(t, &queue{lifo: true})
	before := bad.Entries()
	v, err = harness.CheckModel(harness.QueueModel(), bad, harness.LinearizableOptions{})
	require.ErrorContains(t, err, "harness: not linearizable: 1 of 1 partitions")
	require.False(t, v.Linearizable())
	require.Len(t, v.Violations, 1)
	x := v.Violations[0]
	stuck := v.Entries[x.Ops[x.Stuck]]
	assert.True(t, stuck.Input.Dequeue, "the op that cannot be placed is a dequeue: %v", x)
	assert.True(t, v.Stuck(x.Ops[x.Stuck]))
	assert.Contains(t, x.String(), "dequeue() → ")
	assert.Equal(t, before, bad.Entries(), "the check does not change the log")
}

func TestQueueModelPendingEnqueue(t *testing.T) {
	var log harness.Log[harness.QueueOp, harness.QueueResult]
	log.Call(1, enq("a")) // timed out: it may have happened
	log.Call(2, deq).Return(harness.QueueResult{Value: "a"})
	_, err := harness.CheckModel(harness.QueueModel(), &log, harness.LinearizableOptions{})
	require.NoError(t, err)

	log.Call(2, deq).Return(harness.QueueResult{Value: "a"}) // a second time: never
	v, err := harness.CheckModel(harness.QueueModel(), &log, harness.LinearizableOptions{})
	require.Error(t, err)
	require.Equal(t, `partition "": after a linearizable prefix of 2 ops the state is []; dequeue() → "a" cannot be placed`, v.Violations[0].String())
}

// TestSetModel: a contains that misses an acknowledged add is a violation
// of that value's partition only.
func TestSetModel(t *testing.T) {
	var log harness.Log[harness.SetOp, harness.SetResult]
	log.Call(1, harness.SetOp{Kind: harness.SetAdd, Value: "x"}).Return(harness.SetResult{})
	log.Call(1, harness.SetOp{Kind: harness.SetAdd, Value: "y"}).Return(harness.SetResult{})
	c := log.Call(2, harness.SetOp{Kind: harness.SetContains, Value: "y"})
	log.Call(3, harness.SetOp{Kind: harness.SetRemove, Value: "y"}).Return(harness.SetResult{})
	c.Return(harness.SetResult{Present: false}) // concurrent with the remove: fine
	log.Call(2, harness.SetOp{Kind: harness.SetContains, Value: "x"}).Return(harness.SetResult{Present: false})
	v, err := harness.CheckModel(harness.SetModel(), &log, harness.LinearizableOptions{})
	require.Error(t, err)
	require.Len(t, v.Violations, 1)
	require.Equal(t, "x", v.Violations[0].Partition)
	require.Contains(t, err.Error(), `contains("x") → false cannot be placed`)
}

// TestKVModelMatchesHistory: the key-value model through a Log gives
// CheckLinearizable's verdict.
func TestKVModelMatchesHistory(t *testing.T) {
	var h harness.History
	var log harness.Log[harness.Op, harness.Result]
	both := func(client int, in harness.Op, out harness.Result) {
		h.Call(client, in).Return(out)
		log.Call(client, in).Return(out)
	}
	both(1, put("x", "1"), done)
	both(2, get("x"), val("1"))
	_, err := harness.CheckModel(harness.KVModel(), &log, harness.LinearizableOptions{})
	require.NoError(t, err)
	require.NoError(t, harness.CheckLinearizable(&h))
	both(2, get("x"), absent)
	v, err := harness.CheckModel(harness.KVModel(), &log, harness.LinearizableOptions{})
	require.Error(t, err)
	require.Equal(t, "x", v.Violations[0].Partition)
	violation(t, harness.CheckLinearizable(&h), "x")
}

// TestCheckModelInconclusiveIsNoPass: a bound hit is never a pass.
func TestCheckModelInconclusiveIsNoPass(t *testing.T) {
	var log harness.Log[harness.QueueOp, harness.QueueResult]
	hs := []*harness.Handle[harness.QueueOp, harness.QueueResult]{}
	for i := range 6 {
		hs = append(hs, log.Call(i, enq(fmt.Sprint(i))))
	}
	for _, h := range hs {
		h.Return(harness.QueueResult{})
	}
	v, err := harness.CheckModel(harness.QueueModel(), &log, harness.LinearizableOptions{MaxStates: 3})
	require.ErrorIs(t, err, harness.ErrInconclusive)
	require.False(t, v.Linearizable())

	log2 := harness.Log[harness.QueueOp, harness.QueueResult]{Limit: 1}
	log2.Call(1, enq("a")).Return(harness.QueueResult{})
	log2.Call(1, enq("b")).Return(harness.QueueResult{})
	_, err = harness.CheckModel(harness.QueueModel(), &log2, harness.LinearizableOptions{})
	require.ErrorIs(t, err, harness.ErrInconclusive, "an overflowing log is never a pass")

	_, err = harness.CheckModel(harness.Model[int, int, int]{}, &harness.Log[int, int]{}, harness.LinearizableOptions{})
	require.ErrorContains(t, err, "the Model needs Init and Step")
}

// ExampleCheckModel checks a counter, a model of one's own: increments
// return the new value.
func ExampleCheckModel() {
	counter := harness.Model[int, string, int]{
		Init: func() int { return 0 },
		Step: func(n int, op string, out int, pending bool) (int, bool) {
			return n + 1, pending || out == n+1
		},
	}
	var log harness.Log[string, int]
	a := log.Call(1, "inc")
	b := log.Call(2, "inc")
	b.Return(1)
	a.Return(2) // concurrent: either order works
	log.Call(1, "inc").Return(2)
	_, err := harness.CheckModel(counter, &log, harness.LinearizableOptions{})
	fmt.Println(err)
	// Output:
	// harness: not linearizable: 1 of 1 partitions (3 operations recorded)
	// partition "": after a linearizable prefix of 2 ops the state is 2; inc → 2 cannot be placed
}
