package harness

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
)

// CheckDeterminism is a self-check for a Check property: it generates
// cases cases (zero means 20) the way Fuzz decodes inputs, runs each one
// twice with the very same draws, and fails t at the first case whose two
// runs left different traces, naming the link and the first event where
// they diverge. A property that passes replays its failures faithfully; one
// that fails has a source of nondeterminism of its own (global random
// numbers, map iteration order, real time, a race at one virtual instant)
// that would make a seed replay something else.
func CheckDeterminism(t *testing.T, opts Options, cases int, body func(t *T)) {
	t.Helper()
	if err := FindNondeterminism(t, opts, cases, body); err != nil {
		t.Fatal(err)
	}
}

// FindNondeterminism is CheckDeterminism returning what it found as an
// error instead of failing t.
func FindNondeterminism(t *testing.T, opts Options, cases int, body func(t *T)) error {
	t.Helper()
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if cases <= 0 {
		cases = 20
	}
	for c := range cases {
		input := make([]byte, 4096)
		r := rand.New(rand.NewPCG(uint64(c), 0x6865616477696e64))
		for i := range input {
			input[i] = byte(r.Uint32())
		}
		var runs [2]map[string][]faultconn.Event
		for k := range runs {
			t.Run(fmt.Sprintf("case%d/run%d", c, k+1), func(t *testing.T) {
				rapid.MakeFuzz(func(rt *rapid.T) {
					rapid.SyncTest(rt, func(rt *rapid.T) {
						runCaseThen(rt, opts, body, func(ht *T) { runs[k] = byLink(ht.Trace.Events()) })
					})
				})(t, input)
			})
		}
		if d := divergence(runs[0], runs[1]); d != "" {
			return fmt.Errorf("harness: case %d ran differently twice with the same draws: %s", c, d)
		}
	}
	return nil
}

// byLink groups events by link, each link's in a canonical order (events
// at one instant may be recorded in any order).
func byLink(evs []faultconn.Event) map[string][]faultconn.Event {
	m := make(map[string][]faultconn.Event)
	for _, e := range evs {
		m[e.Link] = append(m[e.Link], e)
	}
	for _, l := range m {
		slices.SortStableFunc(l, func(a, b faultconn.Event) int {
			return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.Dir, b.Dir), cmp.Compare(a.Seq, b.Seq),
				cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Size, b.Size))
		})
	}
	return m
}

// divergence describes the earliest difference between two runs' traces,
// or returns "" if they are the same.
func divergence(a, b map[string][]faultconn.Event) string {
	var first *faultconn.Event
	var where string
	consider := func(at faultconn.Event, what string) {
		if first == nil || at.Time < first.Time {
			first, where = &at, what
		}
	}
	links := make([]string, 0, len(a)+len(b))
	for l := range a {
		links = append(links, l)
	}
	for l := range b {
		if _, ok := a[l]; !ok {
			links = append(links, l)
		}
	}
	slices.Sort(links)
	for _, l := range links {
		ea, eb := a[l], b[l]
		for i := 0; i < max(len(ea), len(eb)); i++ {
			switch {
			case i >= len(ea):
				consider(eb[i], fmt.Sprintf("link %s: only the second run has %v", l, eb[i]))
			case i >= len(eb):
				consider(ea[i], fmt.Sprintf("link %s: only the first run has %v", l, ea[i]))
			case ea[i] != eb[i]:
				e := ea[i]
				if eb[i].Time < e.Time {
					e = eb[i]
				}
				consider(e, fmt.Sprintf("link %s: the first run has\n    %v\n  where the second has\n    %v", l, ea[i], eb[i]))
			default:
				continue
			}
			break
		}
	}
	return strings.TrimSpace(where)
}
