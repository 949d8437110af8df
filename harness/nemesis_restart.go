package harness

import (
	"fmt"

	"pgregory.net/rapid"
)

// restartStep restarts, with T.Restart, one of the hosts that are down
// when it runs: index i modulo their number, in name order.
type restartStep struct{ i int }

func drawRestart(rt *rapid.T, _ Options) Step { return restartStep{i: drawHost(rt, "crashed host")} }

func (s restartStep) String() string { return fmt.Sprintf("restart #%d of the crashed", s.i) }

func (s restartStep) Apply(t *T, hosts []string) string {
	var down []string
	for _, h := range hosts {
		if !t.Net.Up(h) {
			down = append(down, h)
		}
	}
	if len(down) == 0 {
		return "restart: skipped (no host is down)"
	}
	h := down[s.i%len(down)]
	if err := t.Restart(h); err != nil {
		return fmt.Sprintf("restart %s: %v", h, err)
	}
	return "restart " + h
}
