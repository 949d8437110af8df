package faultconn_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
)

// racingScenario runs conns whose writers, readers and note-takers all
// act at the same virtual instants, so that the order in which their
// goroutines reach the trace is the scheduler's. The fates are the same
// every run (same seeds and names); the trace must be too.
func racingScenario(t *testing.T, limit int) (text []byte, overflow uint64) {
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(limit)
		var wg sync.WaitGroup
		var conns []*faultconn.Conn
		for c := range 4 {
			p1, p2 := net.Pipe()
			cfg := faultconn.Config{Seed: 7, Mode: faultconn.Segments, Trace: tr, Name: fmt.Sprint("c", c),
				Out: faultconn.Profile{Latency: 10 * time.Millisecond, Duplicate: 0.3, Reorder: 0.2, Loss: 0.1}}
			a, err := faultconn.Wrap(p1, cfg)
			require.NoError(t, err)
			cfg.Name += "-back"
			b, err := faultconn.Wrap(p2, cfg)
			require.NoError(t, err)
			conns = append(conns, a, b)
			wg.Go(func() {
				defer a.Close()
				for i := range 6 {
					a.Write([]byte{byte(i), byte(c)})
					tr.Note("", "writer %d wrote %d", c, i)
					time.Sleep(10 * time.Millisecond) // the next write lands on the last one's arrival
				}
			})
			wg.Go(func() {
				defer b.Close()
				io.Copy(io.Discard, b)
			})
		}
		wg.Wait()
		for _, c := range conns {
			<-c.Done() // Close is close(2): deliveries end after it
		}
		var buf bytes.Buffer
		require.NoError(t, tr.WriteText(&buf))
		text, overflow = buf.Bytes(), tr.Overflow()
	})
	return text, overflow
}

// Same fates, byte-identical traces: events within an instant come out in
// the canonical order, not in the order goroutines reached the trace.
func TestTraceSameFatesSameText(t *testing.T) {
	first, overflow := racingScenario(t, 0)
	require.Zero(t, overflow)
	require.Greater(t, bytes.Count(first, []byte("\n")), 80, "%s", first)
	for run := range 20 {
		again, _ := racingScenario(t, 0)
		require.Equal(t, string(first), string(again), "run %d printed another trace", run)
	}
}

// The same with a limit that cuts the trace: what is kept, and the count
// of what is not, are the same every run.
func TestTraceSameFatesSameTextWhenFull(t *testing.T) {
	first, overflow := racingScenario(t, 37)
	require.NotZero(t, overflow)
	for run := range 20 {
		again, o := racingScenario(t, 37)
		require.Equal(t, string(first), string(again), "run %d printed another trace", run)
		require.Equal(t, overflow, o)
	}
}

// An instant the limit cut in two is discarded whole: which of its
// events the ring kept depends on the order they were added.
func TestTraceEvictionMidInstant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(4)
		for i := range 3 {
			tr.Add(faultconn.Event{Link: "early", Seq: uint64(i + 1)})
		}
		time.Sleep(time.Millisecond)
		for _, link := range []string{"z", "y", "x"} {
			tr.Add(faultconn.Event{Link: link, Seq: 1})
		}
		// The ring holds early #3 and x, y, z; early #1 and #2 were
		// discarded, so early #3 goes too.
		events := tr.Events()
		require.Len(t, events, 3)
		for i, link := range []string{"x", "y", "z"} {
			require.Equal(t, link, events[i].Link)
			require.Equal(t, time.Millisecond, events[i].Time)
		}
		require.Equal(t, uint64(3), tr.Overflow())
		require.Equal(t, []string{"x", "y", "z"}, tr.Links())
		require.Equal(t, events[1:], tr.Tail("", 2))
		require.Empty(t, tr.Tail("early", 5))
		var buf bytes.Buffer
		require.NoError(t, tr.WriteText(&buf))
		require.Contains(t, buf.String(), "# headwind trace: 3 events (3 earlier events discarded, limit 4)\n")

		// When the instant that was cut is all the ring holds, nothing is
		// returned, and everything is counted.
		time.Sleep(time.Millisecond)
		for i := range 5 {
			tr.Add(faultconn.Event{Link: "burst", Seq: uint64(i + 1)})
		}
		require.Empty(t, tr.Events())
		require.Empty(t, tr.Tail("", 3))
		require.Nil(t, tr.Links())
		require.Equal(t, uint64(11), tr.Overflow())
	})
}

// Within an instant: by link, direction and sequence number; a segment's
// own events keep their order; notes (sequence 0) by kind, size and text.
func TestTraceOrderWithinInstant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(0)
		tr.Add(faultconn.Event{Link: "b", Seq: 2, Kind: faultconn.KindSend})
		tr.Add(faultconn.Event{Link: "b", Dir: faultconn.In, Seq: 1, Kind: faultconn.KindSend})
		tr.Add(faultconn.Event{Link: "b", Seq: 1, Kind: faultconn.KindSend})
		tr.Add(faultconn.Event{Link: "b", Seq: 1, Kind: faultconn.KindDuplicate})
		tr.Add(faultconn.Event{Link: "b", Seq: 1, Kind: faultconn.KindDeliver})
		tr.Note("a", "second")
		tr.Note("a", "first")
		tr.Add(faultconn.Event{Link: "a", Kind: faultconn.KindReset})
		time.Sleep(time.Second)
		tr.Add(faultconn.Event{Link: "a", Seq: 9}) // a later instant stays later
		var got []string
		for _, e := range tr.Events() {
			got = append(got, e.String())
		}
		require.Equal(t, []string{
			"   0.000000s a out reset",
			"   0.000000s a note first",
			"   0.000000s a note second",
			"   0.000000s b out #1 send 0B",
			"   0.000000s b out #1 duplicate 0B",
			"   0.000000s b out #1 deliver 0B",
			"   0.000000s b out #2 send 0B",
			"   0.000000s b in #1 send 0B",
			"   1.000000s a out #9 send 0B",
		}, got)
		require.Equal(t, got[5:8], eventStrings(tr.Tail("b", 3)))
	})
}

func eventStrings(events []faultconn.Event) []string {
	var s []string
	for _, e := range events {
		s = append(s, e.String())
	}
	return s
}
