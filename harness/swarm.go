package harness

import (
	"strings"

	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
)

// Swarm testing (Groce, Zhang, Eide, Chen and Regehr, "Swarm Testing",
// ISSTA 2012): each case first draws which fault families are enabled
// at all, each with probability one half, and draws its faults from
// those only. A case with every fault on at once finds fewer distinct
// bugs than many cases each with a few: one fault can hide another (a
// partition keeps the duplicates a reordering bug needs from arriving).

// profileFamily is a family of the default profile's faults: the swarm
// turns it off by zeroing its fields in the bound.
type profileFamily struct {
	name string
	on   func(b faultconn.Profile) bool // whether the bound has it
	off  func(b *faultconn.Profile)     // zeroes it in the bound
}

// profileFamilies are in the order their draws are made; new families go
// at the end.
var profileFamilies = [...]profileFamily{
	{"latency", func(b faultconn.Profile) bool { return b.Latency > 0 || b.Jitter > 0 },
		func(b *faultconn.Profile) { b.Latency, b.Jitter, b.Distribution, b.Correlation = 0, 0, 0, 0 }},
	{"loss", func(b faultconn.Profile) bool { return b.Loss > 0 || b.Burst != nil },
		func(b *faultconn.Profile) { b.Loss, b.Burst = 0, nil }},
	{"duplicate", func(b faultconn.Profile) bool { return b.Duplicate > 0 }, func(b *faultconn.Profile) { b.Duplicate = 0 }},
	{"reorder", func(b faultconn.Profile) bool { return b.Reorder > 0 }, func(b *faultconn.Profile) { b.Reorder = 0 }},
	{"corrupt", func(b faultconn.Profile) bool { return b.Corrupt > 0 }, func(b *faultconn.Profile) { b.Corrupt = 0 }},
	{"segment", func(b faultconn.Profile) bool { return b.Segment > 0 }, func(b *faultconn.Profile) { b.Segment = 0 }},
	{"reset", func(b faultconn.Profile) bool { return b.Reset > 0 }, func(b *faultconn.Profile) { b.Reset = 0 }},
	{"bandwidth", func(b faultconn.Profile) bool { return b.Bandwidth > 0 }, func(b *faultconn.Profile) { b.Bandwidth = 0 }},
}

// swarm is what a case's swarm enabled.
type swarm struct {
	off     bool     // Options.NoSwarm: everything is enabled
	profile []string // the profile families enabled, in draw order
	nemesis []string // the faults enabled, in slot order
}

// drawSwarm draws the families enabled for a case: one draw per profile
// family the bound has, then one per slot (all MaxFaults of them, so that
// a fault added to a free slot does not move later draws; none when the
// nemesis is off). It returns the
// bound with the disabled families zeroed and the slots to draw steps
// from, in opts (with the case's bound in Faults) and enabled. With Options.NoSwarm it draws nothing and enables everything.
func drawSwarm(rt *rapid.T, opts Options) (Options, [MaxFaults]bool, swarm) {
	bound := opts.Faults
	var enabled [MaxFaults]bool
	sw := swarm{off: opts.NoSwarm}
	for _, f := range profileFamilies {
		if !f.on(bound) {
			continue
		}
		if !opts.NoSwarm && !rapid.Bool().Draw(rt, "swarm: "+f.name) {
			f.off(&bound)
			// Drawn latencies stay off round instants (see
			// drawLinkProfile).
			opts.offsetLatency = opts.offsetLatency || f.name == "latency"
			continue
		}
		sw.profile = append(sw.profile, f.name)
	}
	for i, f := range opts.slots {
		if opts.MaxSteps < 0 {
			break // no nemesis
		}
		label := "swarm: " + f.Name
		if f.Name == "" {
			label = "swarm: free slot"
		}
		on := opts.NoSwarm || rapid.Bool().Draw(rt, label)
		if f.Name != "" && on {
			enabled[i] = true
			sw.nemesis = append(sw.nemesis, f.Name)
		}
	}
	opts.Faults = bound
	return opts, enabled, sw
}

// String describes what the swarm enabled, for the report.
func (s swarm) String() string {
	list := func(names []string) string {
		if len(names) == 0 {
			return "none"
		}
		return strings.Join(names, " ")
	}
	d := "profile " + list(s.profile) + "; nemesis " + list(s.nemesis)
	if s.off {
		d += " (swarm off: all enabled)"
	}
	return d
}
