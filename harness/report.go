package harness

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/headwind-go/headwind/faultconn"
)

// Reports show values for humans: probabilities to a hundredth of a
// percent, durations to a few significant digits, and without the odd
// nanoseconds (Offset, the latency offset) the harness adds to keep
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

// at shows the instant of a nemesis step without Offset.
func at(d time.Duration) time.Duration { return humanDuration(d - Offset) }

// hostName is the host a step's index resolves to among hosts (sorted by
// name, as the nemesis resolves them), or "host #i" when there are fewer
// than two (the step is then skipped).
func hostName(hosts []string, i int) string {
	if len(hosts) < 2 {
		return fmt.Sprintf("host #%d", i)
	}
	return hosts[i%len(hosts)]
}

// describe is the schedule for reading, its hosts resolved against hosts
// (the network's, sorted by name) as the nemesis resolves them.
func (s Schedule) describe(hosts []string) string {
	var parts []string
	for _, st := range s.Steps {
		d := fmt.Sprintf("at %v %v", at(st.At), st.Kind)
		a, b := hostName(hosts, st.A), hostName(hosts, st.B)
		switch st.Kind {
		case StepPartition:
			g1, g2 := st.groups(hosts)
			if len(hosts) < 2 {
				d += fmt.Sprintf(" mask %#b", st.Mask)
			} else {
				d += fmt.Sprintf(" %v | %v", g1, g2)
			}
		case StepIsolate:
			d += " " + a
		case StepDegrade:
			if a == b && len(hosts) >= 2 {
				b = hosts[(st.B+1)%len(hosts)]
			}
			d += fmt.Sprintf(" %s->%s to %s", a, b, humanProfile(st.Profile, true))
		case StepReset:
			d += fmt.Sprintf(" %s<->%s", a, b)
		}
		parts = append(parts, d)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("no steps; at %v heal all", at(s.End))
	}
	return strings.Join(parts, "; ") + fmt.Sprintf("; at %v heal all", at(s.End))
}

// caseJSON is the case's draws, exact, as one line of JSON: the network
// seed, the default profile and the schedule's steps in
// faultconn.ParseProfile syntax and nanoseconds.
func caseJSON(ht *T) string {
	type step struct {
		AtNS    int64  `json:"at_ns"`
		Kind    string `json:"kind"`
		Mask    uint64 `json:"mask,omitempty"`
		A       int    `json:"a"`
		B       int    `json:"b"`
		Profile string `json:"profile,omitempty"`
	}
	c := struct {
		Seed   uint64   `json:"network_seed"`
		Faults string   `json:"faults"`
		Steps  []step   `json:"steps"`
		EndNS  int64    `json:"heal_all_at_ns"`
		Hosts  []string `json:"hosts"`
	}{Seed: ht.Seed, Faults: ht.Faults.String(), Steps: []step{}, EndNS: int64(ht.Schedule.End), Hosts: ht.Net.Hosts()}
	for _, st := range ht.Schedule.Steps {
		s := step{AtNS: int64(st.At), Kind: st.Kind.String(), Mask: st.Mask, A: st.A, B: st.B}
		if st.Kind == StepDegrade {
			s.Profile = st.Profile.String()
		}
		c.Steps = append(c.Steps, s)
	}
	b, _ := json.Marshal(c)
	return string(b)
}
