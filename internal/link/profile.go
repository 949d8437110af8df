package link

import "time"

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

// FrontProfile is the shape of a front end's profile type: faultconn.Profile
// has exactly these fields, in this order, with D its Distribution and G its
// GilbertElliott. Convert and Back are the one conversion between it and
// Profile; because they convert through this struct type, a field added to
// or changed in the front end's type without the same change here fails to
// compile.
type FrontProfile[D ~int, G ~struct{ P, R, BadLoss, GoodLoss float64 }] interface {
	~front[D, G]
}

// front is FrontProfile's struct, for one front end's D and G: an alias
// of the struct type itself, so that the constraint can take every type
// whose underlying type it is.
type front[D ~int, G ~struct{ P, R, BadLoss, GoodLoss float64 }] = struct {
	Latency      time.Duration
	Jitter       time.Duration
	Distribution D
	Correlation  float64
	Bandwidth    int64
	Loss         float64
	Burst        *G
	Duplicate    float64
	Reorder      float64
	Corrupt      float64
	Segment      int
	Reset        float64
}

// Convert hands a validated front-end profile to the engine.
func Convert[P FrontProfile[D, G], D ~int, G ~struct{ P, R, BadLoss, GoodLoss float64 }](p P) Profile {
	f := front[D, G](p)
	lp := Profile{
		Latency: f.Latency, Jitter: f.Jitter, Dist: Dist(f.Distribution),
		Correlation: f.Correlation, Bandwidth: f.Bandwidth, Loss: f.Loss,
		Duplicate: f.Duplicate, Reorder: f.Reorder, Corrupt: f.Corrupt,
		Segment: f.Segment, Reset: f.Reset,
	}
	if f.Burst != nil {
		g := GE(*f.Burst)
		lp.Burst = &g
	}
	return lp
}

// Back converts the engine's profile to the front end's type.
func Back[P FrontProfile[D, G], D ~int, G ~struct{ P, R, BadLoss, GoodLoss float64 }](lp Profile) P {
	f := front[D, G]{
		Latency: lp.Latency, Jitter: lp.Jitter, Distribution: D(lp.Dist),
		Correlation: lp.Correlation, Bandwidth: lp.Bandwidth, Loss: lp.Loss,
		Duplicate: lp.Duplicate, Reorder: lp.Reorder, Corrupt: lp.Corrupt,
		Segment: lp.Segment, Reset: lp.Reset,
	}
	if lp.Burst != nil {
		g := G(*lp.Burst)
		f.Burst = &g
	}
	return P(f)
}
