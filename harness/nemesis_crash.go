package harness

import (
	"fmt"

	"pgregory.net/rapid"
)

// crashStep crashes a host with T.Crash: it stays down until a restart
// step or the final heal.
type crashStep struct{ host int }

func drawCrash(rt *rapid.T, _ Options) Step { return crashStep{host: drawHost(rt, "host")} }

func (s crashStep) String() string { return fmt.Sprintf("crash #%d", s.host) }

func (s crashStep) Describe(hosts []string) string {
	if h := pick(hosts, s.host, 1); h != "" {
		return "crash " + h
	}
	return s.String()
}

func (s crashStep) Apply(t *T, hosts []string) string {
	h := pick(hosts, s.host, 1)
	switch {
	case h == "":
		return tooFew("crash", 1)
	case !t.Net.Up(h):
		return "crash " + h + ": skipped (already down)"
	}
	if err := t.Crash(h); err != nil {
		return fmt.Sprintf("crash %s: %v", h, err)
	}
	return "crash " + h
}
