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
