package harness

import (
	"fmt"

	"pgregory.net/rapid"
)

// pauseStep freezes a host's traffic both ways (netsim.Network.Pause)
// until a resume step or the final heal.
type pauseStep struct{ host int }

func drawPause(rt *rapid.T, _ Options) Step { return pauseStep{host: drawHost(rt, "host")} }

func (s pauseStep) String() string { return fmt.Sprintf("pause #%d", s.host) }

func (s pauseStep) Describe(hosts []string) string {
	if h := pick(hosts, s.host, 1); h != "" {
		return "pause " + h
	}
	return s.String()
}

func (s pauseStep) Apply(t *T, hosts []string) string {
	h := pick(hosts, s.host, 1)
	switch {
	case h == "":
		return tooFew("pause", 1)
	case !t.Net.Up(h):
		return "pause " + h + ": skipped (down)"
	}
	if err := t.Net.Pause(h); err != nil {
		return fmt.Sprintf("pause %s: %v", h, err)
	}
	t.spanBegin("pause", h)
	return "pause " + h
}
