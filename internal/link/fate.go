package link

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"
)

// A link's randomness comes from one PCG stream per fault family, each
// seeded from (seed, link key, direction, family). A family draws only from
// its own stream, so that adding a fault kind (a new family) or changing
// how often one family draws leaves every other family's fates as they
// were.
const (
	famDelay = iota
	famLoss
	famDuplicate
	famReorder
	famCorrupt
	famReset
	families
)

// streams is a link's seeded random sources and the state draws carry from
// one segment to the next (delay correlation, burst-loss state).
type streams struct {
	pcg   [families]rand.PCG
	rkey  uint64  // keys the retransmissions' draws
	lastZ float64 // previous correlated normal draw, for Correlation
	bad   bool    // Gilbert-Elliott state
}

func newStreams(seed uint64, key string, dir uint8) streams {
	h := fnv.New64a()
	h.Write([]byte(key))
	k := h.Sum64() ^ uint64(dir+1)*0x9e3779b97f4a7c15
	var s streams
	s.rkey = splitmix(seed ^ splitmix(k))
	for f := range s.pcg {
		s.pcg[f] = *rand.NewPCG(seed, k+uint64(f)*0xbf58476d1ce4e5b9)
	}
	return s
}

// float is a uniform float64 in [0,1) from family f.
func (s *streams) float(f int) float64 {
	return float64(s.pcg[f].Uint64()>>11) / (1 << 53)
}

// chance reports an event of probability p, drawing from family f.
func (s *streams) chance(f int, p float64) bool {
	return s.float(f) < p
}

// intN is an int in [0,n) from family f, for n < 2³².
func (s *streams) intN(f int, n int) int {
	return int((s.pcg[f].Uint64() >> 32) * uint64(n) >> 32)
}

// lost draws whether one transmission is lost, by Bernoulli or
// Gilbert-Elliott loss.
func (s *streams) lost(p *Profile) bool {
	g := p.Burst
	if g == nil {
		return s.chance(famLoss, p.Loss)
	}
	if s.bad {
		if s.chance(famLoss, g.R) {
			s.bad = false
		}
	} else if s.chance(famLoss, g.P) {
		s.bad = true
	}
	if s.bad {
		bl := g.BadLoss
		if bl == 0 {
			bl = 1
		}
		return s.chance(famLoss, bl)
	}
	return s.chance(famLoss, g.GoodLoss)
}

// delay draws one transmission's propagation delay: Latency plus jitter of
// the profile's distribution, correlated with the previous draw, never
// negative.
func (s *streams) delay(p *Profile) time.Duration {
	u := s.float(famDelay)
	u2 := s.float(famDelay) // drawn always, so the draw count is fixed
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
	return jittered(p, u, u2)
}

// jittered maps uniform draws u, u2 to a delay of p's distribution.
func jittered(p *Profile, u, u2 float64) time.Duration {
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
	if d >= float64(MaxDelay) {
		return MaxDelay
	}
	return time.Duration(d)
}

// MaxDelay bounds one drawn delay (a Pareto tail can reach far): with the
// reorder hold and every retransmission timeout added, instants stay far
// from time.Time's limits.
const MaxDelay = 1000 * time.Hour

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

// fate is what was decided for one segment when it was written. In Stream
// mode, lost and corrupt are the first transmission's; each
// retransmission draws its own when it is sent.
type fate struct {
	reset, lost, dup, reorder, corrupt bool
	delay                              time.Duration
	bit                                int
}

// draw decides a new segment's fate, each family from its own stream.
func (l *Link) draw(p *Profile, size int) fate {
	r := &l.rng
	var f fate
	f.reset = !l.cfg.Packet && r.chance(famReset, p.Reset)
	f.dup = r.chance(famDuplicate, p.Duplicate)
	f.reorder = r.chance(famReorder, p.Reorder)
	f.delay = r.delay(p)
	f.lost = r.lost(p)
	f.corrupt = r.chance(famCorrupt, p.Corrupt)
	if f.corrupt && size > 0 && l.cfg.Mode == Segments {
		f.bit = r.intN(famCorrupt, size*8)
	}
	return f
}

// redraw decides the fate of a Stream retransmission, under the profile in
// force when it is sent (so that a heal rescues data in flight, as with
// TCP). Its draws are a function of the segment's sequence number and the
// transmission's number alone, not of a stream shared with new segments:
// so every fate still depends only on the sequence of writes and profile
// changes, never on when retransmissions fall between writes. Burst loss
// applies its long-run loss rate to retransmissions, and jitter is drawn
// without correlation.
func (l *Link) redraw(s *segment) (lost, corrupt bool, delay time.Duration) {
	p := &l.p
	if l.cfg.Script != nil {
		return false, false, p.Latency // scripts choose first transmissions only
	}
	x := splitmix(l.rng.rkey ^ s.seq*0x9e3779b97f4a7c15 ^ uint64(s.attempt)<<56)
	u := func() float64 {
		x = splitmix(x)
		return float64(x>>11) / (1 << 53)
	}
	loss := p.Loss
	if g := p.Burst; g != nil {
		bad := 0.0
		if g.P+g.R > 0 {
			bad = g.P / (g.P + g.R)
		}
		bl := g.BadLoss
		if bl == 0 {
			bl = 1
		}
		loss = bad*bl + (1-bad)*g.GoodLoss
	}
	lost = u() < loss
	corrupt = u() < p.Corrupt
	delay = p.Latency
	if p.Jitter > 0 {
		delay = jittered(p, u(), u())
	}
	return lost, corrupt, delay
}

// splitmix is SplitMix64's finalizer: a bijective mix of x's bits.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Scripted is one segment's cut and fate, chosen by a Script.
type Scripted struct {
	Size      int  // bytes in the segment, 1..the most offered
	Lose      bool // Segments mode: a hole; Stream mode: one retransmission
	Duplicate bool
	Reorder   bool
	Bit       int // the bit to flip, counted from the segment's first byte; -1 for none
}

// Script chooses segments' cuts and fates. Next is called once per
// segment with the most bytes the segment may hold.
type Script interface {
	Next(max int) Scripted
}

// scripted turns a Scripted into the fate of a segment of size bytes.
func (l *Link) scripted(p *Profile, sf Scripted, size int) fate {
	f := fate{dup: sf.Duplicate, reorder: sf.Reorder, delay: p.Latency, lost: sf.Lose}
	if sf.Bit >= 0 && size > 0 {
		f.corrupt, f.bit = true, sf.Bit%(size*8)
	}
	return f
}
