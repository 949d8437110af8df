package faultconn_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
)

func TestKindString(t *testing.T) {
	for k, want := range map[faultconn.Kind]string{
		faultconn.KindSend:       "send",
		faultconn.KindDeliver:    "deliver",
		faultconn.KindLose:       "lose",
		faultconn.KindDuplicate:  "duplicate",
		faultconn.KindReorder:    "reorder",
		faultconn.KindCorrupt:    "corrupt",
		faultconn.KindRetransmit: "retransmit",
		faultconn.KindReset:      "reset",
		faultconn.KindFin:        "fin",
		faultconn.KindDrop:       "drop",
		faultconn.KindTimeout:    "timeout",
		faultconn.KindBlock:      "block",
		faultconn.KindNote:       "note",
		faultconn.KindHold:       "hold",
		faultconn.Kind(14):       "Kind(14)",
		faultconn.Kind(255):      "Kind(255)",
	} {
		assert.Equal(t, want, k.String())
	}
}

func TestDirString(t *testing.T) {
	assert.Equal(t, "out", faultconn.Out.String())
	assert.Equal(t, "in", faultconn.In.String())
	assert.Equal(t, "Dir(7)", faultconn.Dir(7).String())
	var zero faultconn.Dir
	assert.Equal(t, faultconn.Out, zero)
}

func TestEventString(t *testing.T) {
	for _, tc := range []struct {
		e    faultconn.Event
		want string
	}{
		{
			faultconn.Event{Time: 1250 * time.Millisecond, Link: "a:49152->b:80#1", Dir: faultconn.Out, Seq: 12, Kind: faultconn.KindDeliver, Size: 512},
			"   1.250000s a:49152->b:80#1 out #12 deliver 512B",
		},
		{
			faultconn.Event{Link: "l", Dir: faultconn.In, Seq: 3, Kind: faultconn.KindSend},
			"   0.000000s l in #3 send 0B",
		},
		{
			faultconn.Event{Time: 3*time.Second + 7*time.Microsecond + 999, Link: "l", Dir: faultconn.In, Kind: faultconn.KindReset, Note: "injected"},
			"   3.000007s l in reset injected",
		},
		{
			faultconn.Event{Time: 12345 * time.Second, Link: "l", Kind: faultconn.KindDrop, Size: 9},
			"12345.000000s l out drop 9B",
		},
		{
			faultconn.Event{Time: time.Second, Link: "net", Dir: faultconn.In, Kind: faultconn.KindNote, Note: "partition {a}\n{b}"},
			"   1.000000s net note partition {a}\\n{b}",
		},
		{
			faultconn.Event{Time: -time.Millisecond, Kind: faultconn.KindFin},
			"  -0.001000s - out fin",
		},
	} {
		assert.Equal(t, tc.want, tc.e.String())
	}
}

// TestEventStringAligned checks that the time column has a fixed width.
func TestEventStringAligned(t *testing.T) {
	var col []int
	for _, d := range []time.Duration{0, time.Microsecond, 1500 * time.Millisecond, 42 * time.Second, 9999 * time.Second} {
		s := faultconn.Event{Time: d, Link: "l"}.String()
		col = append(col, strings.Index(s, "s l "))
	}
	for _, c := range col {
		assert.Equal(t, col[0], c, "time column width varies: %v", col)
	}
}

func TestTraceTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(0)
		tr.Add(faultconn.Event{Link: "l", Seq: 1, Time: time.Hour}) // Time is overwritten
		time.Sleep(1500 * time.Millisecond)
		tr.Add(faultconn.Event{Link: "l", Seq: 2})
		time.Sleep(250 * time.Millisecond)
		tr.Note("l", "step %d", 3)

		got := tr.Events()
		require.Len(t, got, 3)
		assert.Equal(t, time.Duration(0), got[0].Time)
		assert.Equal(t, 1500*time.Millisecond, got[1].Time)
		assert.Equal(t, 1750*time.Millisecond, got[2].Time)
		assert.Equal(t, faultconn.Event{Time: 1750 * time.Millisecond, Link: "l", Kind: faultconn.KindNote, Note: "step 3"}, got[2])
	})
}

func TestTraceTimeFromNewTrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(time.Minute)
		tr := faultconn.NewTrace(4)
		time.Sleep(2 * time.Second)
		tr.Add(faultconn.Event{})
		assert.Equal(t, 2*time.Second, tr.Events()[0].Time)
	})
}

func TestTraceZeroValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tr faultconn.Trace
		assert.Equal(t, faultconn.DefaultTraceLimit, tr.Limit())
		assert.Empty(t, tr.Events())
		time.Sleep(time.Second)
		tr.Add(faultconn.Event{Seq: 1}) // the clock starts here
		time.Sleep(2 * time.Second)
		tr.Add(faultconn.Event{Seq: 2})
		got := tr.Events()
		require.Len(t, got, 2)
		assert.Equal(t, time.Duration(0), got[0].Time)
		assert.Equal(t, 2*time.Second, got[1].Time)
	})
}

func TestTraceLimit(t *testing.T) {
	assert.Equal(t, 10, faultconn.NewTrace(10).Limit())
	assert.Equal(t, faultconn.DefaultTraceLimit, faultconn.NewTrace(0).Limit())
	assert.Equal(t, faultconn.DefaultTraceLimit, faultconn.NewTrace(-3).Limit())
}

func seqs(events []faultconn.Event) []uint64 {
	var s []uint64
	for _, e := range events {
		s = append(s, e.Seq)
	}
	return s
}

func TestTraceRing(t *testing.T) {
	tr := faultconn.NewTrace(5)
	assert.Empty(t, tr.Events())
	for i := uint64(1); i <= 12; i++ {
		tr.Add(faultconn.Event{Link: "l", Seq: i})
		// Check the window after every Add: filling, full, wrapping.
		lo := uint64(1)
		if i > 5 {
			lo = i - 4
		}
		var want []uint64
		for s := lo; s <= i; s++ {
			want = append(want, s)
		}
		require.Equal(t, want, seqs(tr.Events()), "after %d adds", i)
		require.Equal(t, i-(i-lo+1), tr.Overflow(), "after %d adds", i)
	}
	assert.Equal(t, uint64(7), tr.Overflow())
	assert.Equal(t, 5, tr.Limit())

	// Events returns a copy.
	ev := tr.Events()
	ev[0].Seq = 999
	assert.Equal(t, uint64(8), tr.Events()[0].Seq)
}

func TestTraceLimitOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(1)
		for i := uint64(1); i <= 3; i++ {
			time.Sleep(time.Millisecond) // one instant per event: none is cut in two
			tr.Add(faultconn.Event{Seq: i})
		}
		assert.Equal(t, []uint64{3}, seqs(tr.Events()))
		assert.Equal(t, uint64(2), tr.Overflow())
	})
}

// TestTraceLazy checks that a trace with a huge limit costs memory only for
// the events it holds.
func TestTraceLazy(t *testing.T) {
	const limit = 1 << 20 // about 80 MiB of Events if allocated up front
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tr := faultconn.NewTrace(limit)
	for i := range 10 {
		tr.Add(faultconn.Event{Link: "l", Seq: uint64(i + 1)})
	}
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10))
	assert.Len(t, tr.Events(), 10)
	runtime.KeepAlive(tr)
}

func TestTraceAddAllocs(t *testing.T) {
	tr := faultconn.NewTrace(8)
	e := faultconn.Event{Link: "a->b", Seq: 1, Kind: faultconn.KindDeliver, Size: 100}
	for range 8 {
		tr.Add(e) // fill the ring
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { tr.Add(e) }), "Add on a full ring")

	var nilTrace *faultconn.Trace
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		nilTrace.Add(e)
		nilTrace.Note("l", "n %d", 1)
	}), "nil trace")
}

func TestTraceTailLinks(t *testing.T) {
	tr := faultconn.NewTrace(6)
	assert.Nil(t, tr.Links())
	assert.Nil(t, tr.Tail("", 3))
	for i, l := range []string{"c", "a", "b", "a", "c", "a", "b", "a"} {
		tr.Add(faultconn.Event{Link: l, Seq: uint64(i + 1)})
	}
	// Kept: seqs 3..8 = b a c a b a.
	assert.Equal(t, []string{"a", "b", "c"}, tr.Links())
	assert.Equal(t, []uint64{6, 8}, seqs(tr.Tail("a", 2)))
	assert.Equal(t, []uint64{4, 6, 8}, seqs(tr.Tail("a", 10)))
	assert.Equal(t, []uint64{3, 7}, seqs(tr.Tail("b", 5)))
	assert.Equal(t, []uint64{5}, seqs(tr.Tail("c", 5)))
	assert.Equal(t, []uint64{6, 7, 8}, seqs(tr.Tail("", 3)))
	assert.Equal(t, []uint64{3, 4, 5, 6, 7, 8}, seqs(tr.Tail("", 100)))
	assert.Nil(t, tr.Tail("nope", 3))
	assert.Nil(t, tr.Tail("a", 0))
	assert.Nil(t, tr.Tail("a", -1))

	// Seq 1 ("c") and 2 ("a") were discarded; once the last "c" goes, so
	// does the link.
	for range 3 {
		tr.Add(faultconn.Event{Link: "b"})
	}
	assert.Equal(t, []string{"a", "b"}, tr.Links())
}

func TestTraceNil(t *testing.T) {
	var tr *faultconn.Trace
	tr.Add(faultconn.Event{Seq: 1})
	tr.Note("l", "x")
	assert.Nil(t, tr.Events())
	assert.Zero(t, tr.Limit())
	assert.Zero(t, tr.Overflow())
	assert.Nil(t, tr.Links())
	assert.Nil(t, tr.Tail("", 5))

	var text bytes.Buffer
	require.NoError(t, tr.WriteText(&text))
	assert.Equal(t, "# headwind trace: 0 events (0 earlier events discarded, limit 0)\n", text.String())
	var js bytes.Buffer
	require.NoError(t, tr.WriteJSON(&js))
	assert.Empty(t, js.String())
}

// fillTrace adds, at fixed virtual instants, five events to a trace of limit 3 made
// at the start of the bubble, so that two are discarded.
func fillTrace(t *testing.T) *faultconn.Trace {
	t.Helper()
	tr := faultconn.NewTrace(3)
	tr.Add(faultconn.Event{Link: "a:49152->b:80#1", Seq: 1, Kind: faultconn.KindSend, Size: 512})
	time.Sleep(250 * time.Millisecond)
	tr.Add(faultconn.Event{Link: "a:49152->b:80#1", Seq: 1, Kind: faultconn.KindSend, Size: 512})
	time.Sleep(time.Second)
	tr.Add(faultconn.Event{Link: "a:49152->b:80#1", Seq: 1, Kind: faultconn.KindDeliver, Size: 512})
	time.Sleep(500 * time.Millisecond)
	tr.Note("net", "partition {%s} {%s}", "a", "b")
	time.Sleep(500 * time.Millisecond)
	tr.Add(faultconn.Event{Link: "a:49152->b:80#1", Dir: faultconn.In, Kind: faultconn.KindReset, Note: "by peer"})
	return tr
}

func TestTraceWriteText(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := fillTrace(t)
		var b bytes.Buffer
		require.NoError(t, tr.WriteText(&b))
		assert.Equal(t, `# headwind trace: 3 events (2 earlier events discarded, limit 3)
   1.250000s a:49152->b:80#1 out #1 deliver 512B
   1.750000s net note partition {a} {b}
   2.250000s a:49152->b:80#1 in reset by peer
`, b.String())
	})
}

func TestTraceWriteJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := fillTrace(t)
		var b bytes.Buffer
		require.NoError(t, tr.WriteJSON(&b))
		assert.Contains(t, b.String(), `"link":"a:49152->b:80#1"`, "link names are not HTML-escaped")

		var lines []map[string]any
		sc := bufio.NewScanner(&b)
		for sc.Scan() {
			var m map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "line %q", sc.Text())
			lines = append(lines, m)
		}
		require.NoError(t, sc.Err())
		require.Len(t, lines, 4)
		assert.Equal(t, map[string]any{"discarded": 2.0, "limit": 3.0}, lines[0])
		assert.Equal(t, map[string]any{
			"time_ns": 1.25e9, "time": "1.25s", "link": "a:49152->b:80#1", "dir": "out",
			"seq": 1.0, "kind": "deliver", "size": 512.0,
		}, lines[1], "no note member when the note is empty")
		assert.Equal(t, map[string]any{
			"time_ns": 1.75e9, "time": "1.75s", "link": "net", "dir": "out",
			"seq": 0.0, "kind": "note", "size": 0.0, "note": "partition {a} {b}",
		}, lines[2])
		assert.Equal(t, map[string]any{
			"time_ns": 2.25e9, "time": "2.25s", "link": "a:49152->b:80#1", "dir": "in",
			"seq": 0.0, "kind": "reset", "size": 0.0, "note": "by peer",
		}, lines[3])
	})
}

func TestTraceWriteJSONNoDiscard(t *testing.T) {
	tr := faultconn.NewTrace(10)
	tr.Add(faultconn.Event{Link: "l", Seq: 1})
	var b bytes.Buffer
	require.NoError(t, tr.WriteJSON(&b))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	require.Len(t, lines, 1)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &m))
	assert.Equal(t, "send", m["kind"])
	assert.NotContains(t, m, "discarded")
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestTraceWriteError(t *testing.T) {
	tr := faultconn.NewTrace(4)
	for i := range 4 {
		tr.Add(faultconn.Event{Seq: uint64(i + 1)})
	}
	boom := errors.New("boom")
	assert.ErrorIs(t, tr.WriteText(errWriter{boom}), boom)
	assert.ErrorIs(t, tr.WriteJSON(errWriter{boom}), boom)
}

func TestTraceConcurrentAdd(t *testing.T) {
	const (
		writers = 16
		each    = 1000
		limit   = 4096
	)
	tr := faultconn.NewTrace(limit)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			link := fmt.Sprint("w", w)
			for i := range each {
				tr.Add(faultconn.Event{Link: link, Seq: uint64(i + 1)})
				if i%100 == 0 {
					// Readers run alongside the writers.
					tr.Events()
					tr.Tail(link, 3)
					tr.Links()
					tr.Overflow()
				}
			}
		})
	}
	wg.Wait()

	events := tr.Events()
	// On the real clock two events rarely share an instant; if the oldest
	// kept instant was cut in two, its events are counted, not returned.
	require.LessOrEqual(t, len(events), limit)
	require.Greater(t, len(events), limit-writers)
	assert.Equal(t, uint64(writers*each), uint64(len(events))+tr.Overflow())
	last := map[string]uint64{}
	for i, e := range events {
		if i > 0 {
			require.LessOrEqual(t, events[i-1].Time, e.Time, "times decrease at %d", i)
		}
		require.Greater(t, e.Seq, last[e.Link], "%s out of order at %d", e.Link, i)
		last[e.Link] = e.Seq
	}
	for link, seq := range last {
		assert.Equal(t, uint64(each), seq, "newest event of %s kept", link)
	}
}

func ExampleEvent_String() {
	e := faultconn.Event{
		Time: 1250 * time.Millisecond,
		Link: "a:49152->b:80#1",
		Dir:  faultconn.Out,
		Seq:  12,
		Kind: faultconn.KindDeliver,
		Size: 512,
	}
	fmt.Println(e)
	// Output:
	//    1.250000s a:49152->b:80#1 out #12 deliver 512B
}

func ExampleTrace_Tail() {
	tr := faultconn.NewTrace(100)
	for seq := uint64(1); seq <= 3; seq++ {
		tr.Add(faultconn.Event{Link: "a->b", Seq: seq, Kind: faultconn.KindSend, Size: 100})
		tr.Add(faultconn.Event{Link: "b->a", Seq: seq, Kind: faultconn.KindSend, Size: 10})
	}
	tr.Add(faultconn.Event{Link: "a->b", Dir: faultconn.In, Kind: faultconn.KindReset})
	for _, e := range tr.Tail("a->b", 2) {
		fmt.Println(e.Link, e.Dir, e.Seq, e.Kind, e.Size)
	}
	// Output:
	// a->b out 3 send 100
	// a->b in 0 reset 0
}
