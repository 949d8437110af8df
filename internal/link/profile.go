package link

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"
)

// Mode is faultconn.Mode: what faults mean on a byte stream.
type Mode uint8

const (
	Stream   Mode = iota // TCP-faithful: retransmit, discard duplicates, in order
	Segments             // fates visible in the bytes
)

// Dist is faultconn.Distribution.
type Dist uint8

const (
	Uniform Dist = iota
	Normal
	Pareto
	ParetoNormal
)

// GE is faultconn.GilbertElliott.
type GE struct{ P, R, BadLoss, GoodLoss float64 }

// Profile is faultconn.Profile, validated by the caller.
type Profile struct {
	Latency, Jitter time.Duration
	Dist            Dist
	Correlation     float64
	Bandwidth       int64
	Loss            float64
	Burst           *GE
	Duplicate       float64
	Reorder         float64
	Corrupt         float64
	Segment         int
	Reset           float64
}

// Retransmission schedule of Stream mode, after Linux's defaults.
const (
	MinRTO     = 200 * time.Millisecond // TCP_RTO_MIN
	MaxRTO     = 120 * time.Second      // TCP_RTO_MAX
	MaxRetries = 15                     // tcp_retries2
)

// RTO is the first retransmission timeout of a link with profile p: an
// estimate of SRTT+4·RTTVAR with SRTT = 2·Latency and RTTVAR = Jitter,
// at least MinRTO and at most MaxRTO.
func RTO(p Profile) time.Duration {
	return min(max(MinRTO, 2*p.Latency+4*p.Jitter), MaxRTO)
}

// ReorderHold is how long a reordered segment is held back: one more
// Latency, at least a millisecond.
func ReorderHold(p Profile) time.Duration { return max(p.Latency, time.Millisecond) }

// stream is a link's seeded random source and the state its draws carry
// from one segment to the next (delay correlation, burst-loss state).
type stream struct {
	r     *rand.Rand
	lastZ float64 // previous correlated normal draw, for Correlation
	bad   bool    // Gilbert-Elliott state
}

func newStream(seed uint64, name string, dir uint8) stream {
	h := fnv.New64a()
	h.Write([]byte(name))
	return stream{r: rand.New(rand.NewPCG(seed, h.Sum64()^uint64(dir+1)*0x9e3779b97f4a7c15))}
}

func (s *stream) chance(p float64) bool {
	u := s.r.Float64()
	return u < p
}

// lost draws whether one transmission is lost, by Bernoulli or
// Gilbert-Elliott loss.
func (s *stream) lost(p *Profile) bool {
	g := p.Burst
	if g == nil {
		return s.chance(p.Loss)
	}
	if s.bad {
		if s.chance(g.R) {
			s.bad = false
		}
	} else if s.chance(g.P) {
		s.bad = true
	}
	if s.bad {
		bl := g.BadLoss
		if bl == 0 {
			bl = 1
		}
		return s.chance(bl)
	}
	return s.chance(g.GoodLoss)
}

// delay draws one segment's propagation delay: Latency plus jitter of the
// profile's distribution, correlated with the previous draw, never negative.
func (s *stream) delay(p *Profile) time.Duration {
	u := s.r.Float64()
	u2 := s.r.Float64() // drawn always, so the draw count per segment is fixed
	if p.Jitter == 0 {
		return p.Latency
	}
	if c := p.Correlation; c > 0 {
		// Correlate in the normal domain and map back, so that the draws
		// keep their distribution (netem's averaging of uniforms shrinks
		// the spread instead).
		z := c*s.lastZ + math.Sqrt(1-c*c)*normalQuantile(u)
		s.lastZ = z
		u = 0.5 * (1 + math.Erf(z/math.Sqrt2))
	}
	var z float64
	switch p.Dist {
	case Normal:
		z = normalQuantile(u)
	case Pareto:
		z = paretoQuantile(u)
	case ParetoNormal:
		z = (0.25*normalQuantile(u2) + 0.75*paretoQuantile(u)) / math.Sqrt(0.625)
	default:
		z = 2*u - 1
	}
	d := float64(p.Latency) + z*float64(p.Jitter)
	if d <= 0 {
		return 0
	}
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// normalQuantile is the standard normal's inverse CDF.
func normalQuantile(u float64) float64 {
	u = min(max(u, 1e-12), 1-1e-12)
	return math.Sqrt2 * math.Erfinv(2*u-1)
}

// paretoQuantile is the inverse CDF of a Pareto distribution with shape 3
// and scale 1, shifted and scaled to mean 0 and standard deviation 1.
func paretoQuantile(u float64) float64 {
	u = min(max(u, 0), 1-1e-12)
	x := math.Pow(1-u, -1.0/3)
	return (x - 1.5) / math.Sqrt(0.75)
}
