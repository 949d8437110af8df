package kv_test

import (
	"encoding/json"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/internal/browser"
)

// twinSeed is a rapid seed whose first case fails the
// linearizable-no-dedupe twin under a partition of the clients from the
// server, with segments lost to it: the case docs/timeline.png shows. (A
// change to what Check draws, such as the nemesis's slots or swarm
// testing, gives the seed another case: find one again with
// -rapid.checks=3000 on the twin and its "-rapid.seed=N".)
const twinSeed = "394"

// twinPage runs the linearizable-no-dedupe twin on twinSeed with
// -headwind.trace and go test's -artifacts, and returns the timeline page
// it wrote to the trace directory and its text, after checking the
// failure report names both pages and both exist.
func twinPage(t *testing.T) (path, page string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a buggy twin in a subprocess")
	}
	dir, out := t.TempDir(), t.TempDir()
	res := harness.RunTwin(t, "TestTwinLinearizableNoDedupe", "linearizable-no-dedupe", "-rapid.seed="+twinSeed,
		"-rapid.checks=1", "-rapid.shrinktime=0", "-headwind.trace="+dir, "-test.artifacts", "-test.outputdir="+out)
	require.True(t, res.Failed, "the twin passed:\n%s", res.Output)
	require.Contains(t, res.Output, "not linearizable")
	path = filepath.Join(dir, "TestTwinLinearizableNoDedupe-check.timeline.html")
	// Under go test, _artifacts/examples/kv/<test>/<random>/; a test binary
	// run by itself does not know its package: _artifacts/<random>/.
	var arts []string
	err := filepath.WalkDir(filepath.Join(out, "_artifacts"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "TestTwinLinearizableNoDedupe-check.timeline.html" {
			arts = append(arts, p)
		}
		return err
	})
	require.NoError(t, err)
	require.Len(t, arts, 1, "no page in the artifact directory:\n%s", res.Output)
	require.Regexp(t, `timeline page: `+regexp.QuoteMeta(arts[0])+`, `+regexp.QuoteMeta(path)+`\n`, res.Output)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return path, string(b)
}

// checkPage checks that a page (or the DOM a browser made of it) has the
// lanes, arrows for segments lost in the partition, the shaded partition
// and the operation the check blamed, highlighted.
func checkPage(t *testing.T, page string) {
	t.Helper()
	for _, host := range []string{"c1", "c2", "reader", "server"} {
		require.Truef(t, strings.Contains(page, `<g class="lane" data-host="`+host+`">`), "no lane for %s", host)
	}
	require.Truef(t, regexp.MustCompile(`<line class="seg block" [^>]*marker-end="url\(#x\)"><title>lost in a partition c\d→server `).MatchString(page),
		"no arrow for a segment lost in the partition")
	require.Truef(t, strings.Contains(page, `<g class="iv partition" data-kind="partition"><title>0.014000s–2.000000s partition [c1 c2] | [server]</title><rect`),
		"no shaded partition")
	require.Equalf(t, 1, strings.Count(page, `<g class="bar violating">`), "not one highlighted operation")
	// The page escapes quotes in text; a browser's DOM dump does not.
	page = strings.ReplaceAll(page, "&#34;", `"`)
	require.Truef(t, strings.Contains(page, `<g class="bar violating"><title>client 0: get("y") → "c2-2"`),
		"the highlighted operation is not the get the check blamed")
}

// TestReadmeTimelineCommand runs the command the README gives for the page
// in docs/timeline.png, as printed, from the module root: it fails on
// twinSeed and writes the page where the README says.
func TestReadmeTimelineCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a buggy twin in a subprocess")
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	m := regexp.MustCompile("\\(`(HEADWIND_TWIN=linearizable-no-dedupe go test [^`]*)` makes\\s+that page \\(unshrunk\\), in\\s+`([^`]*)`").FindSubmatch(readme)
	require.NotNil(t, m, "the README's command for the timeline page")
	command, page := strings.Join(strings.Fields(string(m[1])), " "), string(m[2])
	require.Contains(t, command, " -rapid.seed="+twinSeed+" ", "the README's seed is the screenshot's")
	require.NoError(t, os.RemoveAll(filepath.Dir(page)))
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "HEADWIND_TWIN=") // the command sets it
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the twin fails:\n%s", out)
	require.Contains(t, string(out), "not linearizable")
	b, err := os.ReadFile(page)
	require.NoError(t, err, "the page is where the README says:\n%s", out)
	checkPage(t, string(b))
}

// TestTimelineOfTwin: the twin's failing case writes a timeline page with
// its hosts, the segments the partition cut, the partition and the
// operation that could not be linearized.
func TestTimelineOfTwin(t *testing.T) {
	_, page := twinPage(t)
	checkPage(t, page)
}

// TestTimelineInChromium opens the twin's page in headless Chromium,
// checks the DOM it built and takes a screenshot. With
// HEADWIND_UPDATE_SCREENSHOT=1 the screenshot replaces docs/timeline.png.
func TestTimelineInChromium(t *testing.T) {
	c := browser.Find(t)
	path, _ := twinPage(t)
	dom, took, err := c.DumpDOM(t, path)
	require.NoError(t, err)
	t.Logf("Chromium --dump-dom took %v", took)
	checkPage(t, dom)

	shot := filepath.Join(t.TempDir(), "timeline.png")
	if os.Getenv("HEADWIND_UPDATE_SCREENSHOT") != "" {
		shot = filepath.Join("..", "..", "docs", "timeline.png")
	}
	require.NoError(t, c.Screenshot(t, path, shot, 1400, 1000))
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	require.NoError(t, err)
	require.Equal(t, [2]int{1400, 1000}, [2]int{cfg.Width, cfg.Height})
}

// TestFailureJSONOfTwin: the twin's failing case writes failure.json
// beside its page, in the documented schema, with the exact case and
// the counts of its trace.
func TestFailureJSONOfTwin(t *testing.T) {
	page, _ := twinPage(t)
	b, err := os.ReadFile(strings.TrimSuffix(page, ".timeline.html") + ".failure.json")
	require.NoError(t, err)
	var f harness.Failure
	require.NoError(t, json.Unmarshal(b, &f))
	require.Equal(t, harness.FailureSchema, f.Schema)
	require.Equal(t, "TestTwinLinearizableNoDedupe", f.Test)
	require.Equal(t, "./examples/kv", f.Package)
	require.Equal(t, "check", f.Kind)
	require.Contains(t, f.Violation, "not linearizable")
	require.Contains(t, f.Replay, "go test ./examples/kv -run '^TestTwinLinearizableNoDedupe$'")
	require.Contains(t, f.Reproducible, "replays identically")
	var c struct {
		Seed  uint64 `json:"network_seed"`
		Steps []struct {
			AtNS int64  `json:"at_ns"`
			Step string `json:"step"`
		} `json:"steps"`
	}
	require.NoError(t, json.Unmarshal(f.Case, &c))
	require.Equal(t, f.NetworkSeed, c.Seed)
	require.Contains(t, c.Steps, struct {
		AtNS int64  `json:"at_ns"`
		Step string `json:"step"`
	}{14000777, "partition mask 0b10111011001011"}, "the exact partition step, in nanoseconds")
	require.Contains(t, strings.Join(f.NemesisDid, "; "), "partition [c1 c2] | [server]")
	require.Positive(t, f.Trace.ByKind["block"], "segments lost in the partition are counted")
	require.Equal(t, f.Trace.Events, f.Trace.ByKind["send"]+f.Trace.ByKind["deliver"]+f.Trace.ByKind["block"]+
		f.Trace.ByKind["retransmit"]+f.Trace.ByKind["fin"]+f.Trace.ByKind["reset"]+f.Trace.ByKind["lose"]+
		f.Trace.ByKind["duplicate"]+f.Trace.ByKind["reorder"]+f.Trace.ByKind["corrupt"]+f.Trace.ByKind["hold"]+
		f.Trace.ByKind["timeout"]+f.Trace.ByKind["drop"]+f.Trace.ByKind["note"])
	require.Contains(t, f.Files, page)
	for _, p := range f.Files {
		_, err := os.Stat(p)
		require.NoError(t, err, "a file failure.json lists exists")
	}
}

// TestFailureJSONReplays: a failure replays from nothing but what its
// failure.json says: its replay command, run as written from the module
// root, fails the same way on the same case.
func TestFailureJSONReplays(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a buggy twin in subprocesses")
	}
	dir := t.TempDir()
	res := harness.RunTwin(t, "TestTwinLinearizableNoDedupe", "linearizable-no-dedupe", "-rapid.seed="+twinSeed,
		"-rapid.checks=1", "-rapid.shrinktime=0", "-rapid.nofailfile", "-headwind.trace="+dir)
	require.True(t, res.Failed, res.Output)
	read := func(dir string) harness.Failure {
		b, err := os.ReadFile(filepath.Join(dir, "TestTwinLinearizableNoDedupe-check.failure.json"))
		require.NoError(t, err)
		var f harness.Failure
		require.NoError(t, json.Unmarshal(b, &f))
		return f
	}
	first := read(dir)
	require.Equal(t, "HEADWIND_TWIN=linearizable-no-dedupe go test ./examples/kv -run '^TestTwinLinearizableNoDedupe$' -rapid.seed="+twinSeed, first.Replay,
		"without a failfile, the replay names the failing case's seed")

	again := t.TempDir()
	cmd := exec.Command("sh", "-c", first.Replay+" -rapid.nofailfile")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "HEADWIND_TRACE="+again)
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the replay fails:\n%s", out)
	// rapid finds the same failing case first (its "To reproduce" seed),
	// then may shrink it: the report is of the case it ends with.
	require.Contains(t, string(out), "-rapid.seed="+twinSeed)
	second := read(again)
	require.Contains(t, second.Violation, "not linearizable")
	require.Equal(t, first.Replay, second.Replay, "the replay's report replays the same way")
}
