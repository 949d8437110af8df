package link

import (
	"io"
	"math"
	"math/bits"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// The statistical tests below draw at least statN fates per case (see
// writeN for the race detector) and accept a measured rate only within
// sigmas standard errors of the expected value. The seeds are fixed, so the
// tests are deterministic; at 5σ another seed would fail with probability
// below 1e-6 per check, while a fault that is ignored, doubled or off by a
// few percent is many σ away.
const (
	statN  = 200_000
	sigmas = 5
)

// statSeeds are the seeds every statistical case is run with.
var statSeeds = []uint64{0, 1, 0x5eed_c0ffee}

// requireRate checks that k of n trials with success probability p (and
// per-trial variance v, p(1-p) for independent trials) are within sigmas
// standard errors of p. It returns the measured rate.
func requireRate(t testing.TB, what string, k, n uint64, p, v float64) float64 {
	t.Helper()
	got := float64(k) / float64(n)
	se := math.Sqrt(v / float64(n))
	require.InDeltaf(t, p, got, sigmas*se, "%s: %d/%d = %.4f%%, want %.4f%% ± %.4f%% (5σ)",
		what, k, n, 100*got, 100*p, 100*sigmas*se)
	t.Logf("%s: %d/%d = %.4f%% (want %.4f%% ± %.4f%%)", what, k, n, 100*got, 100*p, 100*sigmas*se)
	return got
}

func requireBinomial(t testing.TB, what string, k, n uint64, p float64) float64 {
	t.Helper()
	return requireRate(t, what, k, n, p, p*(1-p))
}

// pattern is n bytes in which neighbours always differ.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// span is one Read: its bytes are got[off:off+n] and it returned at at,
// measured from the start of the transfer.
type span struct {
	at     time.Duration
	off, n int
}

// transfer writes data to l in one Write followed by CloseWrite, from its
// own goroutine, and reads until EOF. It must run in a bubble.
func transfer(t *testing.T, l *Link, data []byte) (got []byte, reads []span) {
	t.Helper()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := l.Write(data)
		l.CloseWrite()
		errc <- err
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := l.Read(buf)
		if n > 0 {
			reads = append(reads, span{at: time.Since(start), off: len(got), n: n})
			got = append(got, buf[:n]...)
		}
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.NoError(t, <-errc)
	return got, reads
}

// hop is the latency of the write-path tests. It is not zero: with zero
// latency every segment written re-arms an already due timer, and each
// re-arm starts a goroutine that waits for the writer's lock (one per
// segment; see TestZeroLatencyWriteGoroutines).
const hop = time.Millisecond

// raceEnabled reports whether the test binary was built with -race.
var raceEnabled = func() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}()

// seeds are the seeds of the statistical tests, and writeN the segments
// of each write-path case. The race detector slows the engine 10-20x:
// under it one seed and a tenth of the segments are enough to find races,
// every bound is derived from the sample size so it stays at 5σ, and the
// plain run checks every seed at full size.
func seeds() []uint64 {
	if raceEnabled {
		return statSeeds[:1]
	}
	return statSeeds
}

func writeN() int {
	if raceEnabled {
		return statN / 10
	}
	return statN
}

// traced is what a link's trace said happened to each segment, by seq.
type traced struct{ lost, dup, reorder, corrupt bool }

// TestStatsSegments writes writeN() one-byte segments through a Segments link
// with every fault at its own rate (distinct rates, so that a fault drawn
// with another's probability is caught), predicts the delivered bytes from
// the trace, checks them byte by byte, and checks each rate.
func TestStatsSegments(t *testing.T) {
	t.Parallel()
	const loss, dup, reorder, corrupt = 0.10, 0.04, 0.07, 0.13
	n := writeN()
	for _, seed := range seeds() {
		synctest.Test(t, func(t *testing.T) {
			want := pattern(n)
			fates := make([]traced, n+2) // seq n+1 is the FIN
			l := New(Config{Name: "stats", Mode: Segments, Seed: seed, Trace: func(e Event) {
				f := &fates[e.Seq]
				switch e.Kind {
				case KindLose:
					f.lost = true
				case KindDuplicate:
					f.dup = true
				case KindReorder:
					f.reorder = true
				case KindCorrupt:
					f.corrupt = true
				}
			}}, Profile{Latency: hop, Loss: loss, Duplicate: dup, Reorder: reorder, Corrupt: corrupt, Segment: 1})
			got, reads := transfer(t, l, want)

			// A segment arrives after hop, or after one more hop (ReorderHold)
			// when held back, by then overtaken by every other segment; a
			// duplicate follows its original; a corrupted segment (and its
			// copy) has one bit flipped.
			var exp []byte
			var flip []int // 0: intact; 1, 2: the first or second copy of a corrupted segment
			var lost, dups, held, flipped uint64
			onTimeExp := 0
			for _, late := range []bool{false, true} {
				if late {
					onTimeExp = len(exp)
				}
				for seq := 1; seq <= n; seq++ {
					f := fates[seq]
					if f.reorder != late {
						continue
					}
					if f.dup && !f.lost { // a lost segment's duplicate is lost with it
						dups++
					}
					if f.reorder {
						held++
					}
					if f.lost {
						lost++
						continue
					}
					if f.corrupt {
						flipped++
					}
					for c := range 1 + b2i(f.dup) {
						exp = append(exp, want[seq-1])
						flip = append(flip, b2i(f.corrupt)*(1+c))
					}
				}
			}
			require.Len(t, got, len(exp), "delivered bytes")
			var perBit [8]uint64
			for i := range got {
				x := got[i] ^ exp[i]
				if flip[i] == 0 {
					require.Zero(t, x, "byte %d", i)
					continue
				}
				require.Equal(t, 1, bits.OnesCount8(x), "byte %d: exactly one bit flipped", i)
				if flip[i] == 1 {
					perBit[bits.TrailingZeros8(x)]++
				} else {
					require.Equal(t, got[i-1], got[i], "a duplicate is a copy of the corrupted original")
				}
			}
			onTime := 0
			for _, r := range reads {
				switch r.at {
				case hop:
					require.Equal(t, onTime, r.off, "an on-time segment arrived after a held one")
					onTime += r.n
				case 2 * hop:
				default:
					t.Fatalf("segment arrived at %v", r.at)
				}
			}
			require.Equal(t, onTimeExp, onTime, "bytes on time")
			require.Equal(t, Stats{
				Segments: uint64(n), Bytes: uint64(n), Delivered: uint64(len(got)),
				Lost: lost, Duplicated: dups, Reordered: held, Corrupted: flipped,
			}, l.Stats())

			t.Logf("seed %d:", seed)
			requireBinomial(t, "segments loss", lost, uint64(n), loss)
			requireBinomial(t, "segments duplicate (of delivered)", dups, uint64(n)-lost, dup)
			requireBinomial(t, "segments reorder", held, uint64(n), reorder)
			requireBinomial(t, "segments corrupt (of delivered)", flipped, uint64(n)-lost, corrupt)
			for b, k := range perBit {
				requireBinomial(t, "flipped bit "+string(rune('0'+b)), k, flipped, 1.0/8)
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestStatsStream writes writeN() one-byte segments through a Stream link:
// every byte arrives, in order, and each transmission is lost or corrupted
// (then retransmitted) at its rate.
func TestStatsStream(t *testing.T) {
	t.Parallel()
	const loss, corrupt, dup, reorder = 0.10, 0.05, 0.03, 0.07
	n := writeN()
	for _, seed := range seeds() {
		synctest.Test(t, func(t *testing.T) {
			want := pattern(n)
			l := New(Config{Name: "stats", Seed: seed},
				Profile{Latency: hop, Loss: loss, Corrupt: corrupt, Duplicate: dup, Reorder: reorder, Segment: 1})
			got, _ := transfer(t, l, want)
			require.Equal(t, want, got)
			st := l.Stats()
			require.Equal(t, uint64(n), st.Segments)
			require.Equal(t, uint64(n), st.Delivered)
			require.Equal(t, st.Lost+st.Corrupted, st.Retransmitted, "every failed transmission is retransmitted")
			sent := st.Segments + st.Retransmitted
			t.Logf("seed %d:", seed)
			requireBinomial(t, "stream loss (of transmissions)", st.Lost, sent, loss)
			// A transmission both lost and corrupted counts as lost.
			requireBinomial(t, "stream corrupt (of transmissions)", st.Corrupted, sent, corrupt*(1-loss))
			requireBinomial(t, "stream duplicate", st.Duplicated, uint64(n), dup)
			requireBinomial(t, "stream reorder", st.Reordered, uint64(n), reorder)
		})
	}
}

// TestStatsReset counts the resets among the fates draw decides for a
// stream link: a reset ends the link, so the write path cannot measure the
// rate (TestResetEndsWriteAtDrawnSegment ties the two together).
func TestStatsReset(t *testing.T) {
	t.Parallel()
	for _, seed := range seeds() {
		p := Profile{Reset: 0.10}
		l := New(Config{Name: "stats", Seed: seed}, p)
		var resets uint64
		for range statN {
			if l.draw(&p, 1).reset {
				resets++
			}
		}
		requireBinomial(t, "reset draws", resets, statN, 0.10)

		pk := New(Config{Name: "stats", Seed: seed, Packet: true}, p)
		for range 1000 {
			require.False(t, pk.draw(&p, 1).reset, "datagrams are never reset")
		}
	}
}

// TestResetEndsWriteAtDrawnSegment checks that the write path resets at
// exactly the first segment whose drawn fate is a reset.
func TestResetEndsWriteAtDrawnSegment(t *testing.T) {
	for _, seed := range seeds() {
		synctest.Test(t, func(t *testing.T) {
			p := Profile{Latency: hop, Reset: 0.01, Segment: 1}
			twin := New(Config{Name: "stats", Seed: seed}, p)
			first := 0
			for !twin.draw(&p, 1).reset {
				first++
			}
			a, _ := NewPair(Config{Name: "stats", Seed: seed}, Config{Name: "back", Seed: seed}, p, Profile{}, EndHooks{}, EndHooks{})
			l := a.Tx
			n, err := l.Write(pattern(10*first + 10))
			require.NoError(t, err, "the write that drew a reset reports success")
			require.Equal(t, 10*first+10, n)
			_, reset := a.Rx.Read(make([]byte, 1))
			require.ErrorIs(t, reset, ErrInjected, "the end's reads fail at once")
			require.Equal(t, uint64(first), l.Stats().Segments, "segments from the drawn one on are never sent")
			require.Equal(t, uint64(1), l.Stats().Resets)
			_, err = l.Write([]byte("x"))
			require.ErrorIs(t, err, ErrInjected, "later writes fail")
		})
	}
}

// TestWritePathUsesDrawnFates checks, exactly, that what a Segments link
// delivers is what draw decides for each segment: so the distributions
// measured on draws below are those of the write path.
func TestWritePathUsesDrawnFates(t *testing.T) {
	t.Parallel()
	p := Profile{Latency: 50 * time.Millisecond, Jitter: 20 * time.Millisecond, Dist: Normal, Correlation: 0.3,
		Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Corrupt: 0.1, Segment: 4}
	const n = 5000
	for _, seed := range seeds() {
		synctest.Test(t, func(t *testing.T) {
			cfg := Config{Name: "stats", Mode: Segments, Seed: seed, Window: 1 << 20}
			twin := New(cfg, p)
			fates := make([]fate, n)
			want := make([]byte, 4*n)
			for i := range fates {
				fates[i] = twin.draw(&p, 4)
				want[4*i], want[4*i+1], want[4*i+2], want[4*i+3] = byte(i>>8), byte(i), 0xAA, 0x55
			}
			// What each segment should deliver, and when.
			type key struct {
				data string
				at   time.Duration
			}
			expect := make(map[key]int)
			for i, f := range fates {
				if f.lost {
					continue
				}
				w := slices.Clone(want[4*i : 4*i+4])
				if f.corrupt {
					w[f.bit/8] ^= 1 << (f.bit % 8)
				}
				at := f.delay
				if f.reorder {
					at += ReorderHold(p)
				}
				expect[key{string(w), at}] = i
			}
			l := New(cfg, p)
			got, reads := transfer(t, l, want)
			seen := make([]int, n)
			for _, r := range reads {
				require.Equal(t, 4, r.n)
				i, ok := expect[key{string(got[r.off : r.off+4]), r.at}]
				require.True(t, ok, "unexplained segment %x at %v", got[r.off:r.off+4], r.at)
				seen[i]++
			}
			var st Stats
			for i, f := range fates {
				switch {
				case f.lost:
					require.Zero(t, seen[i])
					st.Lost++
				case f.dup:
					require.Equal(t, 2, seen[i])
				default:
					require.Equal(t, 1, seen[i])
				}
				if f.dup && !f.lost { // a lost segment's duplicate is lost with it
					st.Duplicated++
				}
				if f.reorder {
					st.Reordered++
				}
				if f.corrupt && !f.lost {
					st.Corrupted++
				}
			}
			got2 := l.Stats()
			require.Equal(t, st.Lost, got2.Lost)
			require.Equal(t, st.Duplicated, got2.Duplicated)
			require.Equal(t, st.Reordered, got2.Reordered)
			require.Equal(t, st.Corrupted, got2.Corrupted)
		})
	}
}

// moments are a sample's summary, in milliseconds.
type moments struct {
	n                        int
	mean, sd, skew, min, max float64
	lag1                     float64 // lag-1 autocorrelation
}

func summarize(x []float64) moments {
	m := moments{n: len(x), min: math.Inf(1), max: math.Inf(-1)}
	for _, v := range x {
		m.mean += v
		m.min, m.max = min(m.min, v), max(m.max, v)
	}
	m.mean /= float64(len(x))
	var m2, m3, c1 float64
	for i, v := range x {
		d := v - m.mean
		m2 += d * d
		m3 += d * d * d
		if i > 0 {
			c1 += d * (x[i-1] - m.mean)
		}
	}
	m.sd = math.Sqrt(m2 / float64(len(x)-1))
	m.skew = m3 / float64(len(x)) / math.Pow(m2/float64(len(x)), 1.5)
	m.lag1 = c1 / m2
	return m
}

// delays draws n delays of profile p from a fresh link, in milliseconds.
func delays(seed uint64, p Profile, n int) []float64 {
	l := New(Config{Name: "stats", Seed: seed}, p)
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(l.rng.delay(&p)) / float64(time.Millisecond)
	}
	return x
}

// requireCDF checks that the fraction of samples at most z jitters from
// the latency is cdf(z), for each z, within binomial standard errors.
func requireCDF(t *testing.T, what string, x []float64, lat, jit float64, cdf func(float64) float64, zs ...float64) {
	t.Helper()
	for _, z := range zs {
		var k uint64
		for _, v := range x {
			if v <= lat+z*jit {
				k++
			}
		}
		requireBinomial(t, what+" CDF", k, uint64(len(x)), cdf(z))
	}
}

func phi(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// paretoCDF is the CDF of a Pareto (shape 3, scale 1) standardized to mean 0
// and standard deviation 1.
func paretoCDF(z float64) float64 {
	x := 1.5 + z*math.Sqrt(0.75)
	if x < 1 {
		return 0
	}
	return 1 - math.Pow(x, -3)
}

// paretoNormalCDF is the CDF of (0.25·N + 0.75·P)/√0.625 for standard
// normal N and standardized Pareto P, integrated over P's quantiles.
func paretoNormalCDF(z float64) float64 {
	const steps = 50_000
	var sum float64
	for i := range steps {
		u := (float64(i) + 0.5) / steps
		pz := (math.Pow(1-u, -1.0/3) - 1.5) / math.Sqrt(0.75)
		sum += phi((z*math.Sqrt(0.625) - 0.75*pz) / 0.25)
	}
	return sum / steps
}

const (
	delayN   = 200_000
	latMs    = 100.0
	jitMs    = 10.0
	latency  = 100 * time.Millisecond
	jitter10 = 10 * time.Millisecond
)

// requireMean checks the sample mean against the latency within sigmas
// standard errors of a mean of n draws with standard deviation sd.
func requireMean(t *testing.T, m moments, sd float64) {
	t.Helper()
	se := sd / math.Sqrt(float64(m.n))
	require.InDeltaf(t, latMs, m.mean, sigmas*se, "mean %.4fms, want %vms ± %.4fms", m.mean, latMs, sigmas*se)
}

// requireSD checks the sample standard deviation against want: its
// variance within sigmas standard errors, given the kurtosis of z (the
// standardized jitter), SE(s²)/σ² = √((kurt-1)/n).
func requireSD(t *testing.T, m moments, want, kurt float64) {
	t.Helper()
	rel := sigmas * math.Sqrt((kurt-1)/float64(m.n))
	require.InEpsilonf(t, want*want, m.sd*m.sd, rel, "sd %.4fms, want %.4fms (variance ± %.2f%%)", m.sd, want, 100*rel)
}

func TestDelayUniform(t *testing.T) {
	t.Parallel()
	for _, seed := range seeds() {
		p := Profile{Latency: latency, Jitter: jitter10, Dist: Uniform}
		x := delays(seed, p, delayN)
		m := summarize(x)
		t.Logf("uniform seed %d: mean %.4fms sd %.4fms min %.4fms max %.4fms lag1 %.4f", seed, m.mean, m.sd, m.min, m.max, m.lag1)
		sd := jitMs / math.Sqrt(3)
		requireMean(t, m, sd)
		requireSD(t, m, sd, 1.8) // uniform: E z⁴/(E z²)² = 9/5
		require.GreaterOrEqual(t, m.min, latMs-jitMs)
		require.Less(t, m.max, latMs+jitMs)
		// The whole range is used: no sample within 0.01ms of an end has
		// probability (1-0.0005)^n < e^-200.
		require.Less(t, m.min, latMs-jitMs+0.01)
		require.Greater(t, m.max, latMs+jitMs-0.01)
		requireCDF(t, "uniform", x, latMs, jitMs, func(z float64) float64 { return (z + 1) / 2 }, -0.8, -0.5, 0, 0.5, 0.8)
		require.Less(t, math.Abs(m.lag1), sigmas/math.Sqrt(delayN), "uncorrelated")
	}
}

func TestDelayNormal(t *testing.T) {
	t.Parallel()
	for _, seed := range seeds() {
		p := Profile{Latency: latency, Jitter: jitter10, Dist: Normal}
		x := delays(seed, p, delayN)
		m := summarize(x)
		t.Logf("normal seed %d: mean %.4fms sd %.4fms skew %.4f min %.4fms max %.4fms", seed, m.mean, m.sd, m.skew, m.min, m.max)
		requireMean(t, m, jitMs)
		requireSD(t, m, jitMs, 3)
		requireCDF(t, "normal", x, latMs, jitMs, phi, -2, -1, 0, 1, 2)
		require.InDelta(t, 0, m.skew, sigmas*math.Sqrt(6.0/delayN))
	}
}

// Pareto jitter (shape 3) has a finite variance but an infinite fourth
// moment: the sample standard deviation converges like n^-1/3 with a heavy
// upper tail (over 2000 seeds of 200k draws it ranged 0.91–2.15 Jitter,
// median 0.98), so it gets a sanity bound only. The shape and the scale
// are pinned by the CDF at several points, whose errors are binomial.
const paretoSDLow, paretoSDHigh = 0.88, 2.5

func TestDelayPareto(t *testing.T) {
	t.Parallel()
	for _, seed := range seeds() {
		p := Profile{Latency: latency, Jitter: jitter10, Dist: Pareto}
		x := delays(seed, p, delayN)
		m := summarize(x)
		t.Logf("pareto seed %d: mean %.4fms sd %.4fms skew %.2f min %.4fms max %.4fms", seed, m.mean, m.sd, m.skew, m.min, m.max)
		requireMean(t, m, jitMs)
		require.GreaterOrEqual(t, m.sd, paretoSDLow*jitMs)
		require.LessOrEqual(t, m.sd, paretoSDHigh*jitMs)
		// Scale 1 is the least value: Latency - 0.577·Jitter.
		lo := latMs - jitMs*0.5/math.Sqrt(0.75)
		require.GreaterOrEqual(t, m.min, lo-1e-6)
		require.Less(t, m.min, lo+0.01)
		// Heavy right tail: P(z > 20) = 1/18.8³, so the max of n draws is
		// above it but for a probability of e^-60.
		require.Greater(t, m.max, latMs+20*jitMs)
		require.Positive(t, m.skew)
		// The median is 0.277 Jitter below the mean, which is at the 70th
		// percentile: F(0) = 1 - 1.5^-3.
		requireCDF(t, "pareto", x, latMs, jitMs, paretoCDF, -0.5, -0.277, 0, 1, 3)
	}
}

func TestDelayParetoNormal(t *testing.T) {
	t.Parallel()
	zs := []float64{-1, -0.5, 0, 1, 3}
	want := make(map[float64]float64)
	for _, z := range zs {
		want[z] = paretoNormalCDF(z)
	}
	cdf := func(z float64) float64 { return want[z] }
	for _, seed := range seeds() {
		p := Profile{Latency: latency, Jitter: jitter10, Dist: ParetoNormal}
		x := delays(seed, p, delayN)
		m := summarize(x)
		t.Logf("paretonormal seed %d: mean %.4fms sd %.4fms skew %.2f min %.4fms max %.4fms", seed, m.mean, m.sd, m.skew, m.min, m.max)
		requireMean(t, m, jitMs)
		require.GreaterOrEqual(t, m.sd, paretoSDLow*jitMs)
		require.LessOrEqual(t, m.sd, paretoSDHigh*jitMs)
		require.Greater(t, m.max, latMs+15*jitMs)
		require.Positive(t, m.skew)
		requireCDF(t, "paretonormal", x, latMs, jitMs, cdf, zs...)
	}
}

// TestDelayCorrelation checks that Correlation makes successive delays
// follow each other: the correlated uniform is an AR(1) with coefficient c.
func TestDelayCorrelation(t *testing.T) {
	t.Parallel()
	for _, seed := range seeds() {
		for _, d := range []Dist{Uniform, Normal, Pareto} {
			p := Profile{Latency: latency, Jitter: jitter10, Dist: d, Correlation: 0.9}
			m := summarize(delays(seed, p, delayN))
			t.Logf("dist %d correlation 0.9 seed %d: lag1 %.4f mean %.4fms sd %.4fms", d, seed, m.lag1, m.mean, m.sd)
			require.Greater(t, m.lag1, 0.8)
			if d == Uniform {
				// Linear in the AR(1) uniform: lag-1 autocorrelation c, and
				// the mean's standard error that of independent draws.
				require.InDelta(t, 0.9, m.lag1, 0.01)
				requireMean(t, m, jitMs/math.Sqrt(3))
			}
			p.Correlation = 0
			m = summarize(delays(seed, p, delayN))
			require.InDelta(t, 0, m.lag1, sigmas/math.Sqrt(delayN))
		}
	}
}

// TestZeroProfileNoFaults checks that the zero profile draws no fault.
func TestZeroProfileNoFaults(t *testing.T) {
	for _, mode := range []Mode{Stream, Segments} {
		var p Profile
		l := New(Config{Name: "stats", Mode: mode}, p)
		for i := range statN {
			if f := l.draw(&p, 1); f != (fate{}) {
				t.Fatalf("mode %d draw %d: %+v", mode, i, f)
			}
		}
	}
}

// TestDelayNoJitter checks that without jitter every delay is the latency.
func TestDelayNoJitter(t *testing.T) {
	for _, d := range []Dist{Uniform, Normal, Pareto, ParetoNormal} {
		p := Profile{Latency: latency, Dist: d, Correlation: 0.5}
		l := New(Config{Name: "stats"}, p)
		for range 1000 {
			require.Equal(t, latency, l.rng.delay(&p))
		}
	}
}

// geLoss draws n transmissions' losses from a fresh stream.
func geLoss(seed uint64, g GE, n int) []bool {
	s := newStreams(seed, "stats", 0)
	p := Profile{Burst: &g}
	x := make([]bool, n)
	for i := range x {
		x[i] = s.lost(&p)
	}
	return x
}

// markovVar is the asymptotic variance per step of the count of bad states
// of a two-state chain entering bad with probability p and leaving with r.
func markovVar(p, r float64) float64 {
	pi := p / (p + r)
	lambda := 1 - p - r
	return pi * (1 - pi) * (1 + lambda) / (1 - lambda)
}

func TestGilbertElliottBursts(t *testing.T) {
	t.Parallel()
	const n = 1_000_000
	g := GE{P: 0.01, R: 0.25}
	pi := g.P / (g.P + g.R)
	for _, seed := range seeds() {
		x := geLoss(seed, g, n)
		var lost, runs uint64
		for i, v := range x {
			if v {
				lost++
				if i == 0 || !x[i-1] {
					runs++
				}
			}
		}
		requireRate(t, "gilbert-elliott loss", lost, n, pi, markovVar(g.P, g.R))
		// Bursts are the bad state's sojourns: geometric, mean 1/R,
		// variance (1-R)/R².
		mean := float64(lost) / float64(runs)
		se := math.Sqrt((1-g.R)/(g.R*g.R)) / math.Sqrt(float64(runs))
		t.Logf("gilbert-elliott seed %d: %d bursts, mean length %.4f (want 4 ± %.4f)", seed, runs, mean, sigmas*se)
		require.InDelta(t, 1/g.R, mean, sigmas*se)
	}
}

func TestGilbertElliottStationary(t *testing.T) {
	t.Parallel()
	const n = 1_000_000
	g := GE{P: 0.01, R: 0.25, BadLoss: 0.5, GoodLoss: 0.01}
	pi := g.P / (g.P + g.R)
	want := pi*g.BadLoss + (1-pi)*g.GoodLoss
	// Given the states, losses are independent; the states add the
	// variance of a Markov chain scaled by the loss difference.
	v := pi*g.BadLoss*(1-g.BadLoss) + (1-pi)*g.GoodLoss*(1-g.GoodLoss) +
		(g.BadLoss-g.GoodLoss)*(g.BadLoss-g.GoodLoss)*markovVar(g.P, g.R)
	for _, seed := range seeds() {
		var lost uint64
		for _, v := range geLoss(seed, g, n) {
			if v {
				lost++
			}
		}
		requireRate(t, "gilbert-elliott bad 0.5 good 0.01", lost, n, want, v)
	}
}

// TestGilbertElliottWritePath checks burst loss through a Segments link:
// the lost segments' sequence numbers come in runs of mean length 1/R.
func TestGilbertElliottWritePath(t *testing.T) {
	t.Parallel()
	g := GE{P: 0.01, R: 0.25}
	n := writeN()
	synctest.Test(t, func(t *testing.T) {
		var lost []uint64
		l := New(Config{Name: "stats", Mode: Segments, Seed: 7, Trace: func(e Event) {
			if e.Kind == KindLose {
				lost = append(lost, e.Seq)
			}
		}}, Profile{Latency: hop, Burst: &g, Segment: 1})
		got, _ := transfer(t, l, pattern(n))
		require.Len(t, got, n-len(lost))
		require.Equal(t, uint64(len(lost)), l.Stats().Lost)
		runs := 0
		for i, s := range lost {
			if i == 0 || lost[i-1] != s-1 {
				runs++
			}
		}
		pi := g.P / (g.P + g.R)
		requireRate(t, "gilbert-elliott write path", uint64(len(lost)), uint64(n), pi, markovVar(g.P, g.R))
		mean := float64(len(lost)) / float64(runs)
		se := math.Sqrt((1-g.R)/(g.R*g.R)) / math.Sqrt(float64(runs))
		t.Logf("gilbert-elliott write path: %d bursts, mean length %.4f (want 4 ± %.4f)", runs, mean, sigmas*se)
		require.InDelta(t, 1/g.R, mean, sigmas*se)
	})
}

// TestBandwidthExactInstants checks serialization at exact instants: 1000
// B at 1,000,000 B/s take exactly 1ms each, with the writer blocked on the
// window most of the time.
func TestBandwidthExactInstants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const segs = 1000
		l := New(Config{Name: "bw"}, Profile{Bandwidth: 1_000_000, Segment: 1000})
		want := pattern(1000 * segs)
		got, reads := transfer(t, l, want)
		require.Equal(t, want, got)
		require.Len(t, reads, segs)
		for i, r := range reads {
			require.Equal(t, time.Duration(i+1)*time.Millisecond, r.at, "segment %d", i)
		}
	})
}

// TestBandwidthNoDrift checks that sub-nanosecond remainders carry: 3 B at
// 7 B/s is 428571428.57ns a segment, and after 7000 segments the last one
// arrives at exactly 3000s.
func TestBandwidthNoDrift(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const segs = 7000
		l := New(Config{Name: "bw"}, Profile{Bandwidth: 7, Segment: 3})
		want := pattern(3 * segs)
		got, reads := transfer(t, l, want)
		require.Equal(t, want, got)
		require.Len(t, reads, segs)
		for i, r := range reads {
			k := int64(i + 1)
			require.Equal(t, time.Duration(3*k*int64(time.Second)/7), r.at, "segment %d", i)
		}
		require.Equal(t, 3000*time.Second, reads[segs-1].at)
	})
}

func TestRTO(t *testing.T) {
	for _, c := range []struct {
		p    Profile
		want time.Duration
	}{
		{Profile{}, 200 * time.Millisecond},
		{Profile{Latency: 50 * time.Millisecond}, 200 * time.Millisecond},
		{Profile{Latency: 300 * time.Millisecond}, 600 * time.Millisecond},
		{Profile{Latency: 100 * time.Millisecond, Jitter: 50 * time.Millisecond}, 400 * time.Millisecond},
		{Profile{Latency: 59 * time.Second, Jitter: 500 * time.Millisecond}, 120 * time.Second},
		{Profile{Latency: 61 * time.Second}, 120 * time.Second},
		{Profile{Latency: time.Hour}, 120 * time.Second},
	} {
		require.Equal(t, c.want, RTO(c.p), "%+v", c.p)
	}
}

// TestZeroLatencyWriteGoroutines checks that a write of many segments due
// at once does not start a goroutine per segment. Link.arm resets the timer
// on every push; when the earliest arrival is already due, each reset fires
// the AfterFunc again, and each firing is a goroutine that blocks on the
// lock the writer holds (20000 segments made 20004 goroutines).
func TestZeroLatencyWriteGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		most := 0
		l := New(Config{Name: "goroutines", Mode: Segments, Trace: func(e Event) {
			if e.Kind == KindSend && e.Seq%100 == 0 {
				most = max(most, runtime.NumGoroutine())
			}
		}}, Profile{Segment: 1})
		got, _ := transfer(t, l, pattern(5000))
		require.Len(t, got, 5000)
		require.Less(t, most, 100, "goroutines during one Write")
	})
}
