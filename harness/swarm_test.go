package harness

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestSwarm: with swarm testing on, cases enable different subsets of the
// fault families, and a family a case turned off is zero in its bound and
// absent from its nemesis; off (Options.NoSwarm, or -headwind.swarm=off
// and HEADWIND_SWARM=off), every case enables every family and every
// fault of the nemesis.
func TestSwarm(t *testing.T) {
	var nemesis []string
	for _, f := range DefaultNemesis() {
		nemesis = append(nemesis, f.Name)
	}
	draw := func(t *testing.T, set func(*Options)) map[string]int {
		t.Helper()
		seen := map[string]int{}
		rapid.Check(t, func(rt *rapid.T) {
			var o Options
			set(&o)
			opts, err := o.withDefaults()
			require.NoError(rt, err)
			got, enabled, sw := drawSwarm(rt, opts)
			seen[sw.String()]++
			on := map[string]bool{}
			for _, name := range sw.profile {
				on[name] = true
			}
			var all []string // the families of the bound (DefaultFaults, or HEADWIND_FAULTS)
			for _, f := range profileFamilies {
				if f.on(opts.Faults) {
					all = append(all, f.name)
					require.Equal(rt, on[f.name], f.on(got.Faults), "family %s in the case's bound", f.name)
				}
			}
			var names []string
			for i, e := range enabled {
				if e {
					names = append(names, opts.slots[i].Name)
				}
			}
			require.Equal(rt, sw.nemesis, names)
			if opts.NoSwarm {
				require.Equal(rt, all, sw.profile)
				require.Equal(rt, nemesis, sw.nemesis)
				require.Equal(rt, opts.Faults, got.Faults)
			}
		})
		return seen
	}

	t.Run("on", func(t *testing.T) {
		seen := draw(t, func(*Options) {})
		require.Greater(t, len(seen), 10, "100 cases enabled only these subsets: %v", seen)
	})
	t.Run("NoSwarm", func(t *testing.T) {
		seen := draw(t, func(o *Options) { o.NoSwarm = true })
		require.Len(t, seen, 1)
	})
	t.Run("HEADWIND_SWARM=off", func(t *testing.T) {
		t.Setenv("HEADWIND_SWARM", "off")
		seen := draw(t, func(*Options) {})
		require.Len(t, seen, 1)
	})
	t.Run("-headwind.swarm=off", func(t *testing.T) {
		old := *swarmFlag
		*swarmFlag = "off"
		t.Cleanup(func() { *swarmFlag = old })
		seen := draw(t, func(*Options) {})
		require.Len(t, seen, 1)
	})
	t.Run("invalid", func(t *testing.T) {
		t.Setenv("HEADWIND_SWARM", "sometimes")
		_, err := Options{}.withDefaults()
		require.EqualError(t, err, `harness: -headwind.swarm "sometimes": want on or off`)
	})
}
