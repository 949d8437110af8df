package harness

import (
	"fmt"

	"pgregory.net/rapid"
)

// isolateStep cuts one host off from all others until a heal.
type isolateStep struct{ host int }

func drawIsolate(rt *rapid.T, _ Options) Step { return isolateStep{host: drawHost(rt, "host")} }

func (s isolateStep) String() string { return fmt.Sprintf("isolate #%d", s.host) }

func (s isolateStep) Describe(hosts []string) string {
	if h := pick(hosts, s.host, 2); h != "" {
		return "isolate " + h
	}
	return s.String()
}

func (s isolateStep) Apply(t *T, hosts []string) string {
	h := pick(hosts, s.host, 2)
	if h == "" {
		return tooFew("isolate", 2)
	}
	t.Net.Isolate(h)
	return "isolate " + h
}
