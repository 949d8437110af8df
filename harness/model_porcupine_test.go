package harness_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/harness"
)

// TestQueueModelAgreesWithPorcupine checks CheckModel against porcupine, a
// well-known linearizability checker, on random queue histories (no
// pending operations, which porcupine models differently): the two
// verdicts agree on every history CheckModel decides.
func TestQueueModelAgreesWithPorcupine(t *testing.T) {
	pmodel := porcupine.Model{
		Init: func() any { return []string(nil) },
		Step: func(state, input, output any) (bool, any) {
			q, in, out := state.([]string), input.(harness.QueueOp), output.(harness.QueueResult)
			if !in.Dequeue {
				return true, append(slices.Clip(q), in.Value)
			}
			if len(q) == 0 {
				return out.Empty, q
			}
			return !out.Empty && out.Value == q[0], q[1:]
		},
		Equal: func(a, b any) bool { return slices.Equal(a.([]string), b.([]string)) },
	}
	values := []string{"a", "b", "c"}
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 8).Draw(rt, "ops")
		type event struct {
			op   int
			call bool
		}
		// Each operation's call comes before its return; the events are
		// otherwise interleaved as drawn.
		var events []event
		open := []int{}
		next := 0
		for next < n || len(open) > 0 {
			if next < n && (len(open) == 0 || rapid.Bool().Draw(rt, "call")) {
				events = append(events, event{next, true})
				open = append(open, next)
				next++
				continue
			}
			k := rapid.IntRange(0, len(open)-1).Draw(rt, "return")
			events = append(events, event{open[k], false})
			open = slices.Delete(open, k, k+1)
		}
		inputs := make([]harness.QueueOp, n)
		outputs := make([]harness.QueueResult, n)
		for i := range n {
			v := rapid.SampledFrom(values).Draw(rt, "value")
			if rapid.Bool().Draw(rt, "dequeue") {
				inputs[i] = harness.QueueOp{Dequeue: true}
				outputs[i] = harness.QueueResult{Value: v, Empty: rapid.IntRange(0, 3).Draw(rt, "empty") == 0}
				if outputs[i].Empty {
					outputs[i].Value = ""
				}
			} else {
				inputs[i] = harness.QueueOp{Value: v}
			}
		}

		var log harness.Log[harness.QueueOp, harness.QueueResult]
		handles := make([]*harness.Handle[harness.QueueOp, harness.QueueResult], n)
		pops := make([]porcupine.Operation, n)
		for tick, e := range events {
			if e.call {
				handles[e.op] = log.Call(e.op, inputs[e.op])
				pops[e.op] = porcupine.Operation{ClientId: e.op, Input: inputs[e.op], Call: int64(tick), Output: outputs[e.op]}
			} else {
				handles[e.op].Return(outputs[e.op])
				pops[e.op].Return = int64(tick)
			}
		}
		v, err := harness.CheckModel(harness.QueueModel(), &log, harness.LinearizableOptions{})
		if errors.Is(err, harness.ErrInconclusive) {
			rt.Skip("undecided")
		}
		want := porcupine.CheckOperations(pmodel, pops)
		require.Equal(rt, want, v.Linearizable(), "porcupine says linearizable=%v; CheckModel: %v", want, err)
	})
}
