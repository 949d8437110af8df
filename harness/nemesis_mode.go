package harness

import (
	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/netsim"
)

// modeStep sets what partitions do to dials (netsim.Drop: silence;
// netsim.Reject: EHOSTUNREACH at once). The final heal leaves the mode
// as it is: without partitions it changes nothing.
type modeStep struct{ reject bool }

func drawMode(rt *rapid.T, _ Options) Step { return modeStep{reject: rapid.Bool().Draw(rt, "reject")} }

func (s modeStep) mode() netsim.PartitionMode {
	if s.reject {
		return netsim.Reject
	}
	return netsim.Drop
}

func (s modeStep) String() string { return "mode " + s.mode().String() }

func (s modeStep) Apply(t *T, _ []string) string {
	if err := t.Net.SetPartitionMode(s.mode()); err != nil {
		return s.String() + ": " + err.Error()
	}
	return s.String()
}
