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

// TestScheduleAsItRan: a host the property makes after a step ran does
// not change what the report says the step did: the schedule line names
// the host the step isolated, as "nemesis did" does (seen in a report:
// "schedule: at 4ms isolate reader" beside "nemesis did: at 4ms isolate
// server", the reader made after the step).
func TestScheduleAsItRan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := netsim.New(netsim.Config{})
		require.NoError(t, err)
		defer n.Close()
		n.Host("client")
		n.Host("server")
		ht := &T{Net: n, healed: make(chan struct{}), nemDone: make(chan struct{}),
			Schedule: Schedule{End: time.Second + offset, Steps: []TimedStep{{At: time.Millisecond + offset, Step: isolateStep{host: 3}}}}}
		ht.life.began = time.Now()
		go ht.nemesis()
		time.Sleep(2 * time.Millisecond)
		n.Host("reader") // made after the step: [client reader server]
		<-ht.Healed()
		did := ht.nemesisLog()
		require.Contains(t, did, "at 1ms isolate server")
		require.Equal(t, "at 1ms isolate server; at 1s heal all", ht.Schedule.describe(ht.stepHostsOf()))
		require.Equal(t, "isolate server", scheduleIntervals(ht.Schedule, ht.stepHostsOf())[0].Label)
		require.Equal(t, "at 1ms isolate client; at 1s heal all", ht.Schedule.describe(func(int) []string { return n.Hosts() }),
			"the step's index resolves to another host against the hosts at the end")
		<-ht.nemDone
	})
}
