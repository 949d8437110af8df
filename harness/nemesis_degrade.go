package harness

import (
	"fmt"

	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
)

// degradeStep sets the profile of one direction between two hosts, drawn
// like the default profile (within the case's bound). It stays after the
// final heal.
type degradeStep struct {
	from, to int
	profile  faultconn.Profile
}

func drawDegrade(rt *rapid.T, opts Options) Step {
	return degradeStep{from: drawHost(rt, "from"), to: drawHost(rt, "to"), profile: drawLinkProfile(rt, opts)}
}

func (s degradeStep) String() string {
	return fmt.Sprintf("degrade #%d->#%d %v", s.from, s.to, s.profile)
}

func (s degradeStep) Describe(hosts []string) string {
	a, b := pair(hosts, s.from, s.to)
	if a == "" {
		return s.String()
	}
	return fmt.Sprintf("degrade %s->%s to %s", a, b, humanProfile(s.profile, true))
}

func (s degradeStep) Apply(t *T, hosts []string) string {
	a, b := pair(hosts, s.from, s.to)
	if a == "" {
		return tooFew("degrade", 2)
	}
	t.Net.SetLink(a, b, s.profile)
	return s.Describe(hosts)
}
