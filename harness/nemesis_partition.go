package harness

import (
	"fmt"

	"pgregory.net/rapid"
)

// partitionStep splits the hosts in two groups: bit i of mask set puts
// host i (modulo 64) in the first group.
type partitionStep struct{ mask uint64 }

func drawPartition(rt *rapid.T, _ Options) Step {
	return partitionStep{mask: rapid.Uint64().Draw(rt, "mask")}
}

func (s partitionStep) String() string { return fmt.Sprintf("partition mask %#b", s.mask) }

func (s partitionStep) Describe(hosts []string) string {
	if len(hosts) < 2 {
		return s.String()
	}
	g1, g2 := s.groups(hosts)
	return fmt.Sprintf("partition %v | %v", g1, g2)
}

func (s partitionStep) Apply(t *T, hosts []string) string {
	if len(hosts) < 2 {
		return tooFew("partition", 2)
	}
	t.Net.Partition(s.groups(hosts))
	return s.Describe(hosts)
}

// groups splits hosts into the two sides of the partition: the hosts
// whose bit is set in mask, and the rest.
func (s partitionStep) groups(hosts []string) (g1, g2 []string) {
	for i, h := range hosts {
		if s.mask&(1<<(i%64)) != 0 {
			g1 = append(g1, h)
		} else {
			g2 = append(g2, h)
		}
	}
	return g1, g2
}
