package harness

import "pgregory.net/rapid"

// healStep ends partitions and isolations (crashed and paused hosts stay
// so, until a restart or resume step or the final heal).
type healStep struct{}

// drawHeal draws nothing more than the step's slot.
func drawHeal(*rapid.T, Options) Step { return healStep{} }

func (healStep) String() string { return "heal" }

func (healStep) Apply(t *T, _ []string) string {
	t.Net.Heal()
	return "heal"
}
