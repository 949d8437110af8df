package faultconn

import (
	"time"
)

// Distribution is the shape of the jitter added to a Profile's Latency.
// The zero value is Uniform.
type Distribution int

const (
	// Uniform spreads delays evenly over [Latency-Jitter, Latency+Jitter].
	Uniform Distribution = iota
	// Normal draws delays from a normal distribution with mean Latency
	// and standard deviation Jitter.
	Normal
	// Pareto draws delays from a heavy-tailed Pareto distribution (shape 3)
	// shifted and scaled to mean Latency and standard deviation Jitter:
	// most delays sit a little under Latency, a few far above it.
	Pareto
	// ParetoNormal mixes Normal (one quarter) and Pareto (three quarters),
	// like netem's paretonormal table, normalized to mean Latency and
	// standard deviation Jitter.
	ParetoNormal
)

// GilbertElliott is netem's "gemodel" burst-loss model: a two-state Markov
// chain, drawn once per transmitted segment, whose bad state loses segments
// far more often than its good state, so that losses come in bursts.
// The mean burst (time in the bad state) is 1/R segments.
type GilbertElliott struct {
	// P is the probability of moving from the good to the bad state.
	P float64
	// R is the probability of moving from the bad back to the good state.
	R float64
	// BadLoss is the loss probability in the bad state (netem's 1-h).
	// The zero value means 1: every segment in the bad state is lost,
	// the classic Gilbert model.
	BadLoss float64
	// GoodLoss is the loss probability in the good state (netem's 1-k).
	// The zero value means no loss in the good state.
	GoodLoss float64
}

// The largest values Profile.Validate accepts, and MaxWindow the largest
// Config.Window. They are far beyond any network worth simulating, and
// small enough that no sum the engine forms overflows a time.Duration:
// the slowest arrival it computes, a delay at the far tail of a Pareto
// jitter (about 11550·MaxJitter) plus MaxLatency, the reorder hold (one
// more Latency) and a whole MaxWindow segment serialized at 1 byte/s,
// stays below 70 years, against the 292 of a Duration, and the
// retransmission schedule (the RTO is capped at 120s, at most 15
// retransmissions) adds at most half an hour.
const (
	MaxLatency   = 24 * time.Hour
	MaxJitter    = 24 * time.Hour
	MaxBandwidth = 1 << 40 // bytes/s: 1024GiB/s
	MaxWindow    = 1 << 30 // bytes: 1GiB
)

// Profile describes the faults of one direction of a link, in tc-netem's
// vocabulary. The zero value is a perfect link: no delay, no loss, unlimited
// bandwidth. Profiles are plain values; copy and compare them freely.
//
// Probabilities are per segment (see Segment), in [0,1]; durations are
// >= 0 and at most a day (MaxLatency, MaxJitter). Validate reports a
// Profile that breaks a rule.
type Profile struct {
	// Latency is the one-way delay added to every segment, at most
	// MaxLatency.
	Latency time.Duration
	// Jitter is the variation of the delay: the half-width of the range for
	// Uniform, the standard deviation for the other distributions. Delays
	// never go below zero. Zero means every segment takes exactly Latency.
	// At most MaxJitter.
	Jitter time.Duration
	// Distribution is the shape of the jitter; the zero value is Uniform.
	Distribution Distribution
	// Correlation in [0,1] is how much each delay draw follows the previous
	// one on the same link (0: independent draws), as in netem; unlike
	// netem's, the correlated draws keep the distribution's spread (the
	// draws are correlated as normal variables and mapped back).
	Correlation float64
	// Bandwidth in bytes per second limits the link: each segment takes
	// size/Bandwidth to serialize and queues behind earlier ones.
	// Zero means unlimited; at most MaxBandwidth.
	Bandwidth int64
	// Loss is the probability that a segment is lost.
	Loss float64
	// Burst, when not nil, replaces Loss with Gilbert-Elliott burst loss.
	// Setting both Loss and Burst is an error.
	Burst *GilbertElliott
	// Duplicate is the probability that a segment is delivered twice.
	Duplicate float64
	// Reorder is the probability that a segment is held back by one more
	// Latency (at least 1ms), so that segments sent after it overtake it.
	Reorder float64
	// Corrupt is the probability that one random bit of a segment is flipped.
	Corrupt float64
	// Segment is the largest segment in bytes: writes are cut into segments
	// of at most this size and reads see them as short chunks. Zero means
	// one segment per write, capped by the window. Packet conns never cut
	// datagrams and ignore it.
	Segment int
	// Reset is the probability, per segment, that the connection is reset
	// instead of the segment being sent. Streams only. The write that drew
	// it reports success, as when a kernel took the bytes (the rest of it
	// is never sent); this end's reads and later writes fail with
	// ECONNRESET at once, the peer's when the reset arrives.
	Reset float64
}

// Mode says what loss, duplication, reordering and corruption mean on a
// byte stream. The zero value is Stream.
type Mode int

const (
	// Stream is TCP-faithful: lost and corrupted segments are retransmitted
	// after a retransmission timeout, duplicates are discarded and reordering
	// becomes head-of-line delay. The bytes always arrive complete and in
	// order; only timing and connection faults are visible.
	Stream Mode = iota
	// Segments delivers every segment exactly as its fate was drawn: holes,
	// repeats, swaps and flipped bits show up in the byte stream. Packet
	// conns always behave like Segments.
	Segments
)
