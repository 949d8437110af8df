package harness

import (
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/headwind-go/headwind/faultconn"
)

// Reports show values for humans: probabilities to a hundredth of a
// percent, durations to a few significant digits, and without the odd
// nanoseconds (offset, the latency offset) the harness adds to keep
// events off round instants. The exact values are in the case's
// machine-readable line (caseJSON) and in the trace.

// humanProfile is p rounded for reading; drawn says p was drawn by
// DrawProfile, whose Latency carries the latency offset.
func humanProfile(p faultconn.Profile, drawn bool) string {
	if drawn && p.Latency >= latencyOffset {
		p.Latency -= latencyOffset
	}
	p.Latency, p.Jitter = humanDuration(p.Latency), humanDuration(p.Jitter)
	prob := func(x *float64) { *x = math.Round(*x*1e4) / 1e4 }
	prob(&p.Loss)
	prob(&p.Duplicate)
	prob(&p.Reorder)
	prob(&p.Corrupt)
	prob(&p.Reset)
	prob(&p.Correlation)
	if p.Burst != nil {
		g := *p.Burst
		prob(&g.P)
		prob(&g.R)
		prob(&g.BadLoss)
		prob(&g.GoodLoss)
		p.Burst = &g
	}
	if p.Jitter == 0 {
		p.Distribution, p.Correlation = faultconn.Uniform, 0
	}
	return p.String()
}

// humanDuration rounds d to about three significant digits.
func humanDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond)
	}
	return d
}

// at shows the instant of a nemesis step without offset.
func at(d time.Duration) time.Duration { return humanDuration(d - offset) }

// caseJSON is the case's draws, exact, as one line of JSON: the network
// seed, the families the swarm enabled, the default profile in
// faultconn.ParseProfile syntax, and the schedule's steps (each its
// Step's String) and instants in nanoseconds.
func caseJSON(ht *T) string {
	type step struct {
		AtNS int64  `json:"at_ns"`
		Step string `json:"step"`
	}
	c := struct {
		Seed   uint64     `json:"network_seed"`
		Swarm  *swarmJSON `json:"swarm"`
		Faults string     `json:"faults"`
		Steps  []step     `json:"steps"`
		EndNS  int64      `json:"heal_all_at_ns"`
		Hosts  []string   `json:"hosts"`
	}{Seed: ht.Seed, Faults: ht.Faults.String(), Steps: []step{}, EndNS: int64(ht.Schedule.End), Hosts: ht.Net.Hosts()}
	if !ht.swarm.off {
		c.Swarm = &swarmJSON{Profile: append([]string{}, ht.swarm.profile...), Nemesis: append([]string{}, ht.swarm.nemesis...)}
	}
	for _, st := range ht.Schedule.Steps {
		c.Steps = append(c.Steps, step{AtNS: int64(st.At), Step: st.Step.String()})
	}
	// Not HTML-escaped: steps read "degrade #0->#1 …", not "-\u003e".
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(c)
	return strings.TrimSuffix(b.String(), "\n")
}

// swarmJSON is the families a case's swarm enabled; the exact line has
// null when swarm is off.
type swarmJSON struct {
	Profile []string `json:"profile"`
	Nemesis []string `json:"nemesis"`
}
