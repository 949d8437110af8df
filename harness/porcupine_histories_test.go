package harness_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
)

// The histories of porcupine's own test suite (testdata/porcupine, MIT,
// see its README.md): 102 Jepsen etcd logs, one register under read,
// write and cas with timeouts, and 6 key-value logs of 1, 10 and 50
// clients under get, put and append on 10 keys. Each is checked by both
// checkers, which must agree; porcupine's own tests fix which are
// linearizable, and so does this file.

// pubEvent is one line of a published history: the call or the return of
// operation op.
type pubEvent struct {
	op  int
	ret bool
}

// pubHistory is a parsed published history: its operations in call
// order, and the calls and returns in the order the log wrote them.
// Operations that never returned (Jepsen's :info, a read that timed out)
// have no return event: they are pending.
type pubHistory struct {
	name   string
	client []int
	in     []harness.Op
	out    []harness.Result
	events []pubEvent
}

func (h *pubHistory) call(client int, in harness.Op) int {
	h.client = append(h.client, client)
	h.in = append(h.in, in)
	h.out = append(h.out, harness.Result{})
	h.events = append(h.events, pubEvent{op: len(h.in) - 1})
	return len(h.in) - 1
}

func (h *pubHistory) ret(op int, out harness.Result) {
	h.out[op] = out
	h.events = append(h.events, pubEvent{op: op, ret: true})
}

// log records the history into a Log, event by event: the ticks follow
// the file's order, and the pending operations stay pending.
func (h *pubHistory) log() *harness.Log[harness.Op, harness.Result] {
	l := &harness.Log[harness.Op, harness.Result]{}
	handles := make([]*harness.Handle[harness.Op, harness.Result], len(h.in))
	for _, e := range h.events {
		if e.ret {
			handles[e.op].Return(h.out[e.op])
		} else {
			handles[e.op] = l.Call(h.client[e.op], h.in[e.op])
		}
	}
	return l
}

// porcupineOps is the history in porcupine's form, timestamps the event
// positions; a pending operation returns at math.MaxInt64 with an output
// that says so, porcupine's convention for an operation whose outcome is
// unknown.
func (h *pubHistory) porcupineOps() []porcupine.Operation {
	ops := make([]porcupine.Operation, len(h.in))
	for i := range ops {
		ops[i] = porcupine.Operation{ClientId: h.client[i], Input: h.in[i], Output: pOutput{pending: true}, Return: math.MaxInt64}
	}
	for t, e := range h.events {
		if e.ret {
			ops[e.op].Return = int64(t)
			ops[e.op].Output = pOutput{Result: h.out[e.op]}
		} else {
			ops[e.op].Call = int64(t)
		}
	}
	return ops
}

// pOutput is an output for porcupine, which has no notion of pending.
type pOutput struct {
	harness.Result
	pending bool
}

// parseJepsen parses a Jepsen etcd log (one register, "x" here): lines
// "INFO  jepsen.util - PROCESS :TYPE :F VALUE", TYPE invoke, ok, fail or
// info, F read (VALUE nil, or what it read), write (VALUE the integer
// written) or cas (VALUE [OLD NEW]). A failed cas returned "not swapped"; an
// :info operation timed out and is pending, and so is a read that failed
// with :timed-out (it may have read anything).
func parseJepsen(name string, data string) (*pubHistory, error) {
	h := &pubHistory{name: name}
	open := map[int]int{} // process → its operation in flight
	for n, line := range strings.Split(strings.TrimRight(data, "\n"), "\n") {
		bad := func(why string) error { return fmt.Errorf("%s:%d: %s: %q", name, n+1, why, line) }
		_, rest, ok := strings.Cut(line, "jepsen.util - ")
		f := strings.Fields(rest)
		if !ok || len(f) < 4 {
			return nil, bad("not a jepsen.util line")
		}
		proc, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, bad("process")
		}
		typ, fn, value := f[1], f[2], strings.Join(f[3:], " ")
		if typ == ":invoke" {
			if _, busy := open[proc]; busy {
				return nil, bad("second invoke of a busy process")
			}
			in := harness.Op{Key: "x"}
			switch fn {
			case ":read":
				in.Kind = harness.OpGet
			case ":write":
				in.Kind, in.Value = harness.OpPut, value
			case ":cas":
				old, nw, ok := strings.Cut(strings.Trim(value, "[]"), " ")
				if !ok {
					return nil, bad("cas value")
				}
				in.Kind, in.Old, in.Value = harness.OpCAS, old, nw
			default:
				return nil, bad("function")
			}
			open[proc] = h.call(proc, in)
			continue
		}
		op, busy := open[proc]
		if !busy {
			return nil, bad("completion of an idle process")
		}
		delete(open, proc)
		switch {
		case value == ":timed-out" && (typ == ":info" || typ == ":fail" && fn == ":read"):
			// Pending: no return.
		case typ == ":ok" && fn == ":read":
			if value == "nil" {
				h.ret(op, harness.Result{})
			} else {
				h.ret(op, harness.Result{Value: value, Found: true})
			}
		case typ == ":ok" && fn == ":write":
			h.ret(op, harness.Result{})
		case (typ == ":ok" || typ == ":fail") && fn == ":cas":
			h.ret(op, harness.Result{OK: typ == ":ok"})
		default:
			return nil, bad("completion")
		}
	}
	return h, nil
}

// parseKV parses a key-value log of porcupine's: one EDN map a line,
// {:process P, :type :invoke|:ok, :f :get|:put|:append, :key "K", :value
// "V"|nil}. A get of a key never written returns "": absent, for
// KVModel (no put or append in these logs writes "").
func parseKV(name string, data string) (*pubHistory, error) {
	h := &pubHistory{name: name}
	open := map[int]int{}
	for n, line := range strings.Split(strings.TrimRight(data, "\n"), "\n") {
		bad := func(why string) error { return fmt.Errorf("%s:%d: %s: %q", name, n+1, why, line) }
		m, err := parseEDNMap(line)
		if err != nil {
			return nil, bad(err.Error())
		}
		proc, err := strconv.Atoi(m[":process"])
		if err != nil {
			return nil, bad("process")
		}
		kinds := map[string]harness.OpKind{":get": harness.OpGet, ":put": harness.OpPut, ":append": harness.OpAppend}
		kind, ok := kinds[m[":f"]]
		if !ok {
			return nil, bad("function")
		}
		value, err := strconv.Unquote(m[":value"])
		if err != nil && !(kind == harness.OpGet && m[":type"] == ":invoke") {
			return nil, bad("value")
		}
		switch m[":type"] {
		case ":invoke":
			key, err := strconv.Unquote(m[":key"])
			if err != nil {
				return nil, bad("key")
			}
			if _, busy := open[proc]; busy {
				return nil, bad("second invoke of a busy process")
			}
			in := harness.Op{Kind: kind, Key: key}
			if kind != harness.OpGet {
				in.Value = value
			}
			open[proc] = h.call(proc, in)
		case ":ok":
			op, busy := open[proc]
			if !busy || h.in[op].Kind != kind {
				return nil, bad("completion of no such operation")
			}
			delete(open, proc)
			out := harness.Result{}
			if kind == harness.OpGet {
				out = harness.Result{Value: value, Found: value != ""}
			}
			h.ret(op, out)
		default:
			return nil, bad("type")
		}
	}
	return h, nil
}

// parseEDNMap parses a flat EDN map of keywords to atoms: {:k v, :k "s"}.
// String values are returned quoted, the others as written.
func parseEDNMap(s string) (map[string]string, error) {
	s, ok := strings.CutPrefix(strings.TrimSpace(s), "{")
	if s, ok = strings.CutSuffix(s, "}"); !ok {
		return nil, errors.New("not a map")
	}
	m := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; {
		key, rest, ok := strings.Cut(s, " ")
		if !ok || !strings.HasPrefix(key, ":") {
			return nil, errors.New("no keyword")
		}
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for end < len(rest) && rest[end] != '"' {
				if rest[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(rest) {
				return nil, errors.New("unterminated string")
			}
			val, rest = rest[:end+1], rest[end+1:]
		} else {
			val, rest, _ = strings.Cut(rest, ",")
			rest = "," + rest
		}
		m[key] = val
		s = strings.TrimSpace(strings.TrimPrefix(rest, ","))
	}
	return m, nil
}

// etcdLinearizable are the Jepsen etcd logs that porcupine's tests say are
// linearizable; the other 79 of etcd_000…etcd_102 (but etcd_095, an
// empty file) are not.
var etcdLinearizable = []int{2, 5, 7, 18, 25, 31, 38, 45, 48, 49, 51, 53, 56, 67, 75, 76, 80, 87, 92, 98, 100, 101, 102}

// pubSet is a set of published histories and what they should be.
type pubSet struct {
	name      string
	histories []*pubHistory
	want      []bool // linearizable, by porcupine's tests
	pmodel    porcupine.Model
}

func loadPublished(tb testing.TB) []pubSet {
	tb.Helper()
	dir := filepath.Join("testdata", "porcupine")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(tb, err)
		return string(b)
	}
	etcd := pubSet{name: "etcd", pmodel: porcupineRegister}
	for i := range 103 {
		if i == 95 {
			continue // empty in porcupine's repository, and not vendored
		}
		name := fmt.Sprintf("jepsen/etcd_%03d.log", i)
		h, err := parseJepsen(name, read(name))
		require.NoError(tb, err)
		etcd.histories = append(etcd.histories, h)
		etcd.want = append(etcd.want, slices.Contains(etcdLinearizable, i))
	}
	sets := []pubSet{etcd}
	for _, c := range []string{"c01", "c10", "c50"} {
		for _, v := range []string{"ok", "bad"} {
			name := "kv/" + c + "-" + v + ".txt"
			h, err := parseKV(name, read(name))
			require.NoError(tb, err)
			sets = append(sets, pubSet{name: "kv-" + c + "-" + v, histories: []*pubHistory{h}, want: []bool{v == "ok"}, pmodel: porcupineKV})
		}
	}
	return sets
}

// porcupineStep is KV's register for porcupine, written independently of
// KVModel: the state is the key's value, "" while absent (no history here
// writes ""). Pending operations may have any output.
func porcupineStep(state, input, output any) (bool, any) {
	v, in, out := state.(string), input.(harness.Op), output.(pOutput)
	switch in.Kind {
	case harness.OpGet:
		if out.pending {
			return true, v
		}
		if !out.Found {
			return v == "", v
		}
		return out.Value == v, v
	case harness.OpPut:
		return true, in.Value
	case harness.OpAppend:
		return true, v + in.Value
	case harness.OpCAS:
		swap := v != "" && v == in.Old
		if swap {
			return out.pending || out.OK, in.Value
		}
		return out.pending || !out.OK, v
	}
	panic(fmt.Sprintf("op kind %v", in.Kind))
}

func porcupineHash(state any) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range []byte(state.(string)) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// porcupineRegister is the etcd register; porcupineKV partitions by key,
// as porcupine's own kv model does (one state per key, where porcupine's
// test keeps a map of all keys: this is the faster form).
var (
	porcupineRegister = porcupine.Model{
		Init:  func() any { return "" },
		Step:  porcupineStep,
		Equal: func(a, b any) bool { return a.(string) == b.(string) },
		Hash:  porcupineHash,
	}
	porcupineKV = porcupine.Model{
		Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, o := range ops {
				k := o.Input.(harness.Op).Key
				if byKey[k] == nil {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], o)
			}
			var parts [][]porcupine.Operation
			for _, k := range keys {
				parts = append(parts, byKey[k])
			}
			return parts
		},
		Init:  porcupineRegister.Init,
		Step:  porcupineStep,
		Equal: porcupineRegister.Equal,
		Hash:  porcupineHash,
	}
)

// TestPublishedHistoriesAgreeWithPorcupine checks every history of
// porcupine's test suite with CheckModel (KVModel, default budget) and
// with porcupine: the verdicts must be the same, must be what porcupine's
// tests say, and CheckModel must decide every one.
func TestPublishedHistoriesAgreeWithPorcupine(t *testing.T) {
	for _, s := range loadPublished(t) {
		agree, linearizable := 0, 0
		for i, h := range s.histories {
			v, err := harness.CheckModel(harness.KVModel(), h.log(), harness.LinearizableOptions{})
			require.NotErrorIs(t, err, harness.ErrInconclusive, "%s", h.name)
			require.Equal(t, v.Linearizable(), err == nil, "%s", h.name)
			p := porcupine.CheckOperations(s.pmodel, h.porcupineOps())
			require.Equal(t, s.want[i], p, "%s: porcupine's verdict is not what its tests say", h.name)
			require.Equal(t, p, v.Linearizable(), "%s: porcupine says linearizable=%v; CheckModel: %v", h.name, p, err)
			agree++
			if p {
				linearizable++
			}
			if len(v.Undecided) > 0 {
				// A violation decides the history; porcupine stops there.
				t.Logf("%s: %d partitions violate; the budget left %d undecided", h.name, len(v.Violations), len(v.Undecided))
			}
		}
		t.Logf("%s: %d histories, %d linearizable, verdicts agree on %d", s.name, len(s.histories), linearizable, agree)
	}
}

// BenchmarkHistories times the two checkers on the same histories, each
// iteration checking every history of the set:
//
//	go test ./harness -run '^$' -bench Histories -benchmem
func BenchmarkHistories(b *testing.B) {
	for _, s := range loadPublished(b) {
		logs := make([]*harness.Log[harness.Op, harness.Result], len(s.histories))
		pops := make([][]porcupine.Operation, len(s.histories))
		for i, h := range s.histories {
			logs[i], pops[i] = h.log(), h.porcupineOps()
		}
		b.Run(s.name+"/headwind", func(b *testing.B) {
			for b.Loop() {
				for i, l := range logs {
					v, _ := harness.CheckModel(harness.KVModel(), l, harness.LinearizableOptions{})
					if v.Linearizable() != s.want[i] {
						b.Fatalf("%s: linearizable=%v", s.histories[i].name, v.Linearizable())
					}
				}
			}
		})
		b.Run(s.name+"/headwind-first", func(b *testing.B) {
			for b.Loop() {
				for i, l := range logs {
					v, _ := harness.CheckModel(harness.KVModel(), l, harness.LinearizableOptions{FirstViolation: true})
					if len(v.Violations) == 0 != s.want[i] {
						b.Fatalf("%s: %d violations", s.histories[i].name, len(v.Violations))
					}
				}
			}
		})
		b.Run(s.name+"/porcupine", func(b *testing.B) {
			for b.Loop() {
				for i, ops := range pops {
					if porcupine.CheckOperations(s.pmodel, ops) != s.want[i] {
						b.Fatalf("%s: wrong verdict", s.histories[i].name)
					}
				}
			}
		})
	}
}

// TestPorcupineTimeoutNeverFiresInBubble shows why CheckModel counts its
// budget in states: inside a synctest bubble time stands still while a
// goroutine computes, so porcupine's timeout, however short, never ends
// its search (it returns a full verdict, not Unknown), while CheckModel's
// MaxStates stops at the same state inside the bubble and out.
func TestPorcupineTimeoutNeverFiresInBubble(t *testing.T) {
	sets := loadPublished(t)
	i := slices.IndexFunc(sets, func(s pubSet) bool { return s.name == "kv-c50-ok" })
	h := sets[i].histories[0] // far more than 100 states
	outside, err := harness.CheckModel(harness.KVModel(), h.log(), harness.LinearizableOptions{MaxStates: 100})
	require.ErrorIs(t, err, harness.ErrInconclusive)
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		res := porcupine.CheckOperationsTimeout(porcupineKV, h.porcupineOps(), time.Nanosecond)
		require.Equal(t, porcupine.Ok, res, "a timeout fired in the bubble")
		require.Equal(t, start, time.Now(), "time moved while porcupine searched")

		inside, err := harness.CheckModel(harness.KVModel(), h.log(), harness.LinearizableOptions{MaxStates: 100})
		require.ErrorIs(t, err, harness.ErrInconclusive)
		require.Equal(t, outside.Undecided, inside.Undecided)
	})
}
