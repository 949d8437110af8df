package harness

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/internal/timeline"
)

// TestTimelineOfRun: a failing Run writes its timeline page into the
// -headwind.trace directory and, with -artifacts, the test's artifact
// directory, and the report names both; without either it says how to
// get one.
func TestTimelineOfRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a twin in a subprocess")
	}
	dir, out := t.TempDir(), t.TempDir()
	res := RunTwin(t, "TestTwinRunTraffic", "run-fails", "-headwind.seed=77", "-headwind.faults=latency=10ms loss=5%",
		"-headwind.trace="+dir, "-test.artifacts", "-test.outputdir="+out)
	require.True(t, res.Failed, res.Output)
	page := filepath.Join(dir, "TestTwinRunTraffic-seed77.timeline.html")
	var arts []string
	require.NoError(t, filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == filepath.Base(page) {
			arts = append(arts, p)
		}
		return err
	}))
	require.Len(t, arts, 1, res.Output)
	require.Contains(t, res.Output, "timeline page: "+arts[0]+", "+page+"\n")
	b, err := os.ReadFile(page)
	require.NoError(t, err)
	for _, s := range []string{`<h1>TestTwinRunTraffic</h1>`, `data-host="client"`, `data-host="server"`, `<line class="seg ok"`, "headwind: FAILED with network seed 77"} {
		require.Truef(t, strings.Contains(string(b), s), "the page lacks %q", s)
	}

	// failure.json beside the page: Run's kind, its seed and replay.
	jsonPath := filepath.Join(dir, "TestTwinRunTraffic-seed77.failure.json")
	require.Contains(t, res.Output, "failure report: "+filepath.Join(filepath.Dir(arts[0]), filepath.Base(jsonPath))+", "+jsonPath+"\n")
	b, err = os.ReadFile(jsonPath)
	require.NoError(t, err)
	var f Failure
	require.NoError(t, json.Unmarshal(b, &f))
	require.Equal(t, Failure{Schema: FailureSchema, Test: "TestTwinRunTraffic", Package: "./harness", Kind: "run",
		Headline: "headwind: FAILED with network seed 77", Replay: f.Replay, NetworkSeed: 77,
		Faults: "latency=10ms loss=5%", Case: json.RawMessage("null"), NemesisDid: []string{}, Trace: f.Trace, Files: f.Files}, f)
	require.Contains(t, f.Replay, "-headwind.seed=77")
	require.Positive(t, f.Trace.ByKind["send"])
	require.Contains(t, f.Files, page)

	res = RunTwin(t, "TestTwinRunTraffic", "run-fails", "-headwind.seed=77")
	require.True(t, res.Failed, res.Output)
	require.Contains(t, res.Output, "timeline page: run with -artifacts or -headwind.trace=DIR to get one")
	require.NotContains(t, res.Output, "failure report:")
}

// TestScheduleIntervals: a partition lasts until the next partition or
// heal, an isolation until a heal, a degraded link until the final heal,
// a reset is an instant (crashes and pauses are shaded as they happen);
// host indices resolve as the steps resolve them.
func TestScheduleIntervals(t *testing.T) {
	ms := time.Millisecond
	s := Schedule{End: 10 * time.Second, Steps: []TimedStep{
		{At: 1 * ms, Step: partitionStep{mask: 0b01}},
		{At: 2 * ms, Step: isolateStep{host: 4}},
		{At: 3 * ms, Step: partitionStep{mask: 0b10}},
		{At: 4 * ms, Step: degradeStep{from: 1, to: 1}},
		{At: 5 * ms, Step: resetStep{a: 0, b: 2}},
		{At: 6 * ms, Step: healStep{}},
		{At: 7 * ms, Step: crashStep{host: 2}},
		{At: 8 * ms, Step: pauseStep{host: 0}},
		{At: 9 * ms, Step: modeStep{reject: true}},
		{At: 11 * ms, Step: restartStep{}},
	}}
	hosts := []string{"a", "b", "c"}
	all := func(int) []string { return hosts }
	require.Equal(t, []timeline.Interval{
		{Start: 1 * ms, End: 3 * ms, Kind: "partition", Label: "partition [a] | [b c]", Hosts: hosts},
		{Start: 2 * ms, End: 6 * ms, Kind: "isolate", Label: "isolate b", Hosts: []string{"b"}},
		{Start: 3 * ms, End: 6 * ms, Kind: "partition", Label: "partition [b] | [a c]", Hosts: hosts},
		{Start: 4 * ms, End: 10 * time.Second, Kind: "degrade", Label: "degrade b->c to none", Hosts: []string{"b", "c"}},
		{Start: 5 * ms, End: 5 * ms, Kind: "reset", Label: "reset a<->c", Hosts: []string{"a", "c"}},
	}, scheduleIntervals(s, all))
	require.Empty(t, scheduleIntervals(s, func(int) []string { return hosts[:1] }), "with one host the steps are skipped")

	// Each step as it ran: the isolation of index 4 saw hosts a and c
	// (b was made later), so it isolated a, not b.
	asRan := func(i int) []string {
		if i == 1 {
			return []string{"a", "c"}
		}
		return hosts
	}
	require.Equal(t, timeline.Interval{Start: 2 * ms, End: 6 * ms, Kind: "isolate", Label: "isolate a", Hosts: []string{"a"}},
		scheduleIntervals(s, asRan)[1])
}
