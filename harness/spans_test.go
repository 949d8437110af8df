package harness

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/internal/timeline"
	"github.com/headwind-go/headwind/netsim"
)

// TestSpanIntervals: the timeline shades crashes and pauses as they
// happened, whoever made them, an unfinished one until now.
func TestSpanIntervals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := netsim.New(netsim.Config{})
		require.NoError(t, err)
		defer n.Close()
		n.Host("a")
		n.Host("b")
		ht := &T{Net: n}
		ht.life.began = time.Now()
		time.Sleep(time.Second)
		require.NoError(t, ht.Pause("a"))
		time.Sleep(2 * time.Second)
		require.NoError(t, ht.Resume("a"))
		time.Sleep(time.Second)
		require.NoError(t, ht.Crash("b"))
		time.Sleep(time.Second)
		require.Equal(t, []timeline.Interval{
			{Start: time.Second, End: 3 * time.Second, Kind: "pause", Label: "pause a", Hosts: []string{"a"}},
			{Start: 4 * time.Second, End: 5 * time.Second, Kind: "crash", Label: "crash b", Hosts: []string{"b"}},
		}, ht.spanIntervals())
		require.NoError(t, ht.Restart("b"))
		require.Equal(t, 5*time.Second, ht.spanIntervals()[1].End)
	})
}
