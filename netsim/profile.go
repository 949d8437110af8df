package netsim

import (
	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/internal/link"
)

// toLink hands a validated profile to the engine. (faultconn has the same
// mapping for its wrappers; the engine cannot import faultconn, and
// faultconn keeps its engine out of its API.)
func toLink(p faultconn.Profile) link.Profile {
	lp := link.Profile{
		Latency: p.Latency, Jitter: p.Jitter, Dist: link.Dist(p.Distribution),
		Correlation: p.Correlation, Bandwidth: p.Bandwidth, Loss: p.Loss,
		Duplicate: p.Duplicate, Reorder: p.Reorder, Corrupt: p.Corrupt,
		Segment: p.Segment, Reset: p.Reset,
	}
	if g := p.Burst; g != nil {
		lp.Burst = &link.GE{P: g.P, R: g.R, BadLoss: g.BadLoss, GoodLoss: g.GoodLoss}
	}
	return lp
}
