package harness

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// quietTB is a rapid.TB that records a failure instead of failing the
// test, so that a test can let rapid find and shrink a failing case.
type quietTB struct {
	testing.TB
	failed bool
}

func (q *quietTB) Logf(string, ...any)   {}
func (q *quietTB) Log(...any)            {}
func (q *quietTB) Errorf(string, ...any) { q.failed = true }
func (q *quietTB) Error(...any)          { q.failed = true }
func (q *quietTB) Fatalf(string, ...any) { q.failed = true; panic(q) }
func (q *quietTB) Fatal(...any)          { q.failed = true; panic(q) }
func (q *quietTB) FailNow()              { q.failed = true; panic(q) }
func (q *quietTB) Fail()                 { q.failed = true }
func (q *quietTB) Failed() bool          { return q.failed }

// shrunkDraws lets rapid find and shrink a case whose draws under opts
// make bad true, and returns the draws of the minimal case rapid
// reports, as a saved failfile has them.
func shrunkDraws(t *testing.T, opts Options, bad func(*T) bool) []byte {
	t.Helper()
	opts, err := opts.withDefaults()
	require.NoError(t, err)
	var input []byte
	q := &quietTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != q {
				panic(r)
			}
		}()
		rapid.Check(q, func(rt *rapid.T) {
			d := readDraws(rt)
			if bad(drawCase(rt, opts)) {
				if d.final {
					input = d.input()
				}
				rt.Fatal("bad")
			}
		})
	}()
	require.True(t, q.failed, "rapid found no case")
	require.NotNil(t, input, "the minimal case's draws were not read")
	return input
}

// drawnWith is the case input draws under opts: its schedule and swarm.
func drawnWith(t *testing.T, opts Options, input []byte) (schedule, swarm string) {
	t.Helper()
	opts, err := opts.withDefaults()
	require.NoError(t, err)
	rapid.MakeFuzz(func(rt *rapid.T) {
		ht := drawCase(rt, opts)
		schedule, swarm = ht.Schedule.String(), ht.swarm.String()
	})(t, input)
	return schedule, swarm
}

// userFault is a fault of the user's that draws a step named name.
func userFault(name string) Fault {
	return Fault{Name: name, Draw: func(rt *rapid.T, _ Options) Step {
		return namedStep{name: name, i: rapid.IntRange(0, 3).Draw(rt, "i")}
	}}
}

// namedStep is a step that does nothing, named for its fault.
type namedStep struct {
	name string
	i    int
}

func (s namedStep) String() string            { return fmt.Sprintf("%s %d", s.name, s.i) }
func (s namedStep) Apply(*T, []string) string { return s.String() }

// TestNemesisDrawsAreAppendOnly: a saved case (the shrunk draws rapid
// writes in a failfile) draws the same schedule when the faults grow: a
// new built-in in its slot, and a new fault of the user's after the
// others. Saved with the first five built-ins and one fault of the
// user's, replayed with every built-in and two of the user's.
func TestNemesisDrawsAreAppendOnly(t *testing.T) {
	t.Chdir(t.TempDir()) // rapid writes its failfile here
	before := Options{Nemesis: append(Builtins()[:5], userFault("mine"))}
	after := Options{Nemesis: append(Builtins(), userFault("mine"), userFault("later"))}
	for _, swarm := range []bool{true, false} {
		for _, kinds := range [][]string{{"partition", "reset"}, {"degrade", "mine"}, {"heal", "isolate", "mine"}} {
			t.Run(fmt.Sprintf("swarm=%v/%s", swarm, strings.Join(kinds, "+")), func(t *testing.T) {
				before, after := before, after
				before.NoSwarm, after.NoSwarm = !swarm, !swarm
				// A case that has a step of each of kinds.
				input := shrunkDraws(t, before, func(ht *T) bool {
					s := ht.Schedule.String()
					for _, k := range kinds {
						if !strings.Contains(s, " "+k) {
							return false
						}
					}
					return true
				})
				want, _ := drawnWith(t, before, input)
				got, sw := drawnWith(t, after, input)
				require.Equal(t, want, got)
				t.Logf("%s (swarm after: %s)", got, sw)
			})
		}
	}
}

// TestNemesisOptionsAreValidated: faults without names or Draw, twice
// listed, or more than fit in MaxFaults slots are errors naming the
// field.
func TestNemesisOptionsAreValidated(t *testing.T) {
	mine := func(n int) []Fault {
		var fs []Fault
		for i := range n {
			fs = append(fs, userFault(fmt.Sprint("f", i)))
		}
		return fs
	}
	for _, tc := range []struct {
		nemesis []Fault
		want    string
	}{
		{[]Fault{{Name: "", Draw: drawHeal}}, "harness: Options.Nemesis[0].Name is empty"},
		{[]Fault{{Name: "x y", Draw: drawHeal}}, `harness: Options.Nemesis[0].Name "x y" has a space`},
		{[]Fault{{Name: "x"}}, `harness: Options.Nemesis[0] ("x") has no Draw`},
		{append(Builtins()[:1], Builtins()[0]), `harness: Options.Nemesis[1].Name "partition" is also the name of Options.Nemesis[0]`},
		{append(Builtins()[:1], userFault("a"), userFault("a")), `harness: Options.Nemesis[2].Name "a" is also the name of Options.Nemesis[1]`},
		{append(Builtins()[9:], mine(7)...), `harness: Options.Nemesis[7] ("f6") needs slot 9, held by "mode"`},
		{append(Builtins(), mine(7)...), "harness: Options.Nemesis lists 17 faults, out of range [0,16] (MaxFaults)"},
	} {
		_, err := Options{Nemesis: tc.nemesis}.withDefaults()
		require.ErrorContains(t, err, tc.want)
	}
	_, err := Options{Nemesis: append(Builtins(), mine(6)...)}.withDefaults()
	require.NoError(t, err, "ten built-ins and six of the user's fit")
}

// TestLifecycleStepsAndFinalHeal: under every built-in, a crash step
// leaves its host down and a pause step its host paused, a restart step
// brings one host back up, and the final heal leaves every host up and
// running.
func TestLifecycleStepsAndFinalHeal(t *testing.T) {
	CheckWith(t, Options{Nemesis: Builtins(), NoSwarm: true}, func(t *T) {
		for _, h := range []string{"a", "b", "c"} {
			t.Net.Host(h)
		}
		hosts := t.Net.Hosts()
		down := func() (n int) {
			for _, h := range hosts {
				if !t.Net.Up(h) {
					n++
				}
			}
			return n
		}
		start := time.Now()
		steps := t.Schedule.Steps
		for i, st := range steps {
			if i+1 < len(steps) && steps[i+1].At == st.At || i > 0 && steps[i-1].At == st.At || st.At == t.Schedule.End {
				continue // steps of one instant: checked together at the heal
			}
			time.Sleep(time.Until(start.Add(st.At - 1)))
			before := down()
			time.Sleep(2)
			switch s := st.Step.(type) {
			case crashStep:
				require.False(t, t.Net.Up(pick(hosts, s.host, 1)), "after %v", st.Step)
			case pauseStep:
				if h := pick(hosts, s.host, 1); t.Net.Up(h) {
					require.True(t, t.Net.Paused(h), "after %v", st.Step)
				}
			case restartStep:
				require.Equal(t, max(before-1, 0), down(), "after %v", st.Step)
			}
		}
		<-t.Healed()
		for _, h := range hosts {
			require.True(t, t.Net.Up(h), "%s after the heal", h)
			require.False(t, t.Net.Paused(h), "%s after the heal", h)
		}
	})
}
