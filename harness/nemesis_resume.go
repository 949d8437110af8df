package harness

import (
	"fmt"

	"pgregory.net/rapid"
)

// resumeStep resumes one of the hosts that are paused when it runs: index
// i modulo their number, in name order.
type resumeStep struct{ i int }

func drawResume(rt *rapid.T, _ Options) Step { return resumeStep{i: drawHost(rt, "paused host")} }

func (s resumeStep) String() string { return fmt.Sprintf("resume #%d of the paused", s.i) }

func (s resumeStep) Apply(t *T, hosts []string) string {
	var paused []string
	for _, h := range hosts {
		if t.Net.Paused(h) {
			paused = append(paused, h)
		}
	}
	if len(paused) == 0 {
		return "resume: skipped (no host is paused)"
	}
	h := paused[s.i%len(paused)]
	if err := t.Net.Resume(h); err != nil {
		return fmt.Sprintf("resume %s: %v", h, err)
	}
	t.spanEnd("pause", h)
	return "resume " + h
}
