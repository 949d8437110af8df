package link

import (
	"cmp"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// record is one traced event and its instant, from the start of the run.
type record struct {
	at time.Duration
	ev Event
}

// runResult is what one scripted run of a link delivered and traced.
type runResult struct {
	got    []byte   // delivered bytes, in order
	chunks []string // delivered segments, one a Read, in order
	events []record // sorted by (at, seq, kind, size)
	stats  Stats
	end    string // what ended the read side: EOF or the error
}

// script is a fixed sequence of writes: 200 writes of 1 to 50 bytes,
// about 5 KB, 1700 segments of at most 3 bytes.
func script() []int {
	sizes := make([]int, 200)
	for i := range sizes {
		sizes[i] = 1 + (i*37)%50
	}
	return sizes
}

// run writes script() to a new link (cfg, p) in its own bubble; see runIn.
func run(t *testing.T, cfg Config, p Profile, gap time.Duration) runResult {
	t.Helper()
	var res runResult
	synctest.Test(t, func(t *testing.T) { res = runIn(t, cfg, p, gap, nil) })
	return res
}

// runIn writes script() to a new link (cfg, p), with gap of virtual time
// between writes, and reads until EOF or an error. After each write it
// calls between, if not nil, from the writing goroutine. It must run in a
// bubble.
func runIn(t *testing.T, cfg Config, p Profile, gap time.Duration, between func(i int)) runResult {
	t.Helper()
	var res runResult
	start := time.Now()
	cfg.Trace = func(e Event) { // called with the link's lock held
		res.events = append(res.events, record{time.Since(start), e})
	}
	l := New(cfg, p)
	sizes := script()
	go func() {
		data := pattern(50 * len(sizes))
		off := 0
		for i, n := range sizes {
			if _, err := l.Write(data[off : off+n]); err != nil {
				return // an injected reset: the reader sees it
			}
			off += n
			if between != nil {
				between(i)
			}
			if gap > 0 {
				time.Sleep(gap)
			}
		}
		l.CloseWrite()
	}()
	buf := make([]byte, 1<<10)
	for {
		n, err := l.Read(buf)
		res.got = append(res.got, buf[:n]...)
		if n > 0 {
			res.chunks = append(res.chunks, string(buf[:n]))
		}
		if err != nil {
			res.end = err.Error()
			if !errors.Is(err, io.EOF) {
				require.ErrorIs(t, err, ErrInjected)
			}
			break
		}
	}
	synctest.Wait() // the writer is done, every event up to now is recorded
	res.stats = l.Stats()
	slices.SortStableFunc(res.events, func(a, b record) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.ev.Seq, b.ev.Seq),
			cmp.Compare(a.ev.Kind, b.ev.Kind), cmp.Compare(a.ev.Size, b.ev.Size))
	})
	return res
}

// Profiles with every fault the byte stream can show.
var (
	detSegments = Profile{Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Dist: Normal, Correlation: 0.2,
		Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Corrupt: 0.1, Segment: 3}
	detStream = Profile{Latency: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Dist: Pareto,
		Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Corrupt: 0.05, Segment: 3, Reset: 0.0005}
)

func detProfile(m Mode) Profile {
	if m == Segments {
		return detSegments
	}
	return detStream
}

func detConfig(mode Mode) Config {
	return Config{Name: "10.0.0.1:40001->10.0.0.2:80", Dir: 0, Seed: 42, Mode: mode}
}

func requireSameRun(t *testing.T, a, b runResult) {
	t.Helper()
	require.Equal(t, a.got, b.got, "delivered bytes")
	require.Equal(t, a.chunks, b.chunks, "delivered segments")
	require.Equal(t, a.end, b.end, "end of stream")
	require.Equal(t, a.stats, b.stats)
	require.Equal(t, len(a.events), len(b.events), "events")
	for i := range a.events {
		require.Equal(t, a.events[i], b.events[i], "event %d", i)
	}
}

// requireFaulty checks that a run actually exercised its faults, so that
// equal runs are not equal for lack of anything random.
func requireFaulty(t *testing.T, r runResult, mode Mode) {
	t.Helper()
	st := r.stats
	require.NotZero(t, st.Lost)
	require.NotZero(t, st.Duplicated)
	require.NotZero(t, st.Reordered)
	require.NotZero(t, st.Corrupted)
	if mode == Stream {
		require.NotZero(t, st.Retransmitted)
	}
}

// TestDeterminismSameKey checks that two links with the same (Seed, Name,
// Dir) and the same writes deliver the same bytes, with the same events at
// the same instants.
func TestDeterminismSameKey(t *testing.T) {
	for _, mode := range []Mode{Segments, Stream} {
		for _, seed := range []uint64{0, 42, 1 << 63} {
			cfg := detConfig(mode)
			cfg.Seed = seed
			for _, gap := range []time.Duration{0, 3 * time.Millisecond} {
				a := run(t, cfg, detProfile(mode), gap)
				b := run(t, cfg, detProfile(mode), gap)
				requireFaulty(t, a, mode)
				requireSameRun(t, a, b)
				t.Logf("mode %d seed %d gap %v: %d bytes delivered, %d events, end %q, %+v",
					mode, seed, gap, len(a.got), len(a.events), a.end, a.stats)
			}
		}
	}
}

// TestDeterminismStreamDelivers checks that Stream mode hides the faults:
// the bytes arrive complete and in order, up to a drawn reset.
func TestDeterminismStreamDelivers(t *testing.T) {
	total := 0
	for _, n := range script() {
		total += n
	}
	want := pattern(50 * len(script()))[:total]
	ends := map[bool]int{}
	for _, seed := range []uint64{0, 1, 2, 42, 1 << 63} {
		cfg := detConfig(Stream)
		cfg.Seed = seed
		r := run(t, cfg, detStream, 0)
		reset := r.end != io.EOF.Error()
		ends[reset]++
		if reset {
			require.Equal(t, want[:len(r.got)], r.got, "seed %d", seed)
			require.Equal(t, uint64(1), r.stats.Resets)
		} else {
			require.Equal(t, want, r.got, "seed %d", seed)
		}
		requireFaulty(t, r, Stream)
	}
	require.Len(t, ends, 2, "the seeds cover both a reset and a clean end: %v", ends)
}

// TestDeterminismKeyMatters checks that the seed, the name and the
// direction each select a different stream of fates.
func TestDeterminismKeyMatters(t *testing.T) {
	for _, mode := range []Mode{Segments, Stream} {
		p := detProfile(mode)
		base := detConfig(mode)
		ref := run(t, base, p, 0)
		for what, cfg := range map[string]Config{
			"seed": {Name: base.Name, Dir: base.Dir, Seed: base.Seed + 1, Mode: mode},
			"name": {Name: "10.0.0.1:40002->10.0.0.2:80", Dir: base.Dir, Seed: base.Seed, Mode: mode},
			"dir":  {Name: base.Name, Dir: 1, Seed: base.Seed, Mode: mode},
		} {
			other := run(t, cfg, p, 0)
			require.NotEqual(t, ref.events, other.events, "another %s, other events", what)
			if mode == Segments {
				require.NotEqual(t, ref.got, other.got, "another %s, other bytes", what)
			}
			require.NotEqual(t, ref.stats, other.stats, "another %s, other stats", what)
		}
	}
}

// TestDeterminismOtherLinks checks that a link's fates do not depend on
// what other links do: writes on the reverse direction of the same
// connection (same seed and name), interleaved with the link's own writes
// and made concurrently from another goroutine, change nothing.
func TestDeterminismOtherLinks(t *testing.T) {
	for _, mode := range []Mode{Segments, Stream} {
		p := detProfile(mode)
		cfg := detConfig(mode)
		alone := run(t, cfg, p, time.Millisecond)

		var busy runResult
		synctest.Test(t, func(t *testing.T) {
			rev := cfg
			rev.Dir = 1
			twin := cfg // the very same key
			others := []*Link{New(rev, p), New(twin, p)}
			for _, o := range others {
				go func() { // drain
					b := make([]byte, 1<<10)
					for {
						if _, err := o.Read(b); err != nil {
							return
						}
					}
				}()
				go func() { // write concurrently, at other instants
					for i := range 300 {
						if _, err := o.Write(pattern(1 + i%7)); err != nil {
							return
						}
						time.Sleep(time.Duration(300+i) * time.Microsecond)
					}
				}()
			}
			busy = runIn(t, cfg, p, time.Millisecond, func(i int) {
				for _, o := range others {
					_, _ = o.Write(pattern(1 + i%11))
				}
			})
			for _, o := range others {
				o.Shutdown(io.ErrClosedPipe)
			}
		})
		requireFaulty(t, alone, mode)
		requireSameRun(t, alone, busy)
	}
}

// TestDeterminismTiming checks that fates depend on the sequence of
// writes, not on when they happen: the same writes at other instants give
// each segment the same fate.
func TestDeterminismTiming(t *testing.T) {
	for _, mode := range []Mode{Segments, Stream} {
		p := detProfile(mode)
		cfg := detConfig(mode)
		fast := run(t, cfg, p, 0)
		slow := run(t, cfg, p, 7*time.Millisecond)
		require.Equal(t, fast.stats, slow.stats)
		require.Equal(t, fateEvents(fast.events), fateEvents(slow.events))
		if mode == Segments {
			require.ElementsMatch(t, fast.chunks, slow.chunks, "the same segments, in another order")
			require.NotEqual(t, fast.chunks, slow.chunks, "timing changes the order (else this test proves little)")
		} else {
			require.Equal(t, fast.got, slow.got)
		}
	}
}

// fateEvents are the events of a run without their instants, by seq and
// kind.
func fateEvents(rs []record) []Event {
	evs := make([]Event, len(rs))
	for i, r := range rs {
		evs[i] = r.ev
	}
	slices.SortStableFunc(evs, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Size, b.Size))
	})
	return evs
}

// TestDeterminismDraws checks the fates draw gives, directly: equal keys
// give equal sequences, and two links' draws do not interfere.
func TestDeterminismDraws(t *testing.T) {
	p := detSegments
	cfg := detConfig(Segments)
	a, b, c := New(cfg, p), New(cfg, p), New(cfg, p)
	other := New(Config{Name: "x", Mode: Segments}, p)
	for i := range 10_000 {
		fa := a.draw(&p, 3)
		if i%3 == 0 {
			other.draw(&p, 3) // interleaved draws elsewhere
		}
		require.Equal(t, fa, b.draw(&p, 3), "draw %d", i)
		require.Equal(t, fa, c.draw(&p, 3), "draw %d", i)
	}
}
