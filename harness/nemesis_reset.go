package harness

import (
	"fmt"

	"pgregory.net/rapid"
)

// resetStep resets every live connection between two hosts.
type resetStep struct{ a, b int }

func drawReset(rt *rapid.T, _ Options) Step {
	return resetStep{a: drawHost(rt, "from"), b: drawHost(rt, "to")}
}

func (s resetStep) String() string { return fmt.Sprintf("reset #%d<->#%d", s.a, s.b) }

func (s resetStep) Describe(hosts []string) string {
	a, b := pair(hosts, s.a, s.b)
	if a == "" {
		return s.String()
	}
	return fmt.Sprintf("reset %s<->%s", a, b)
}

func (s resetStep) Apply(t *T, hosts []string) string {
	a, b := pair(hosts, s.a, s.b)
	if a == "" {
		return tooFew("reset", 2)
	}
	return fmt.Sprintf("reset %d conns between %s and %s", t.Net.ResetConns(a, b), a, b)
}
