package kv_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCampaignFindsDoubleCharge splits one campaign over the no-dedupe
// twin into 4 shards, run as 4 processes: every shard finds the double
// charge, and every shard's failure replays from the command its report
// printed, run as printed from the module root.
func TestCampaignFindsDoubleCharge(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a buggy twin in subprocesses")
	}
	reReplay := regexp.MustCompile(`replay: (HEADWIND_TWIN=no-dedupe go test \./examples/kv -run '\^TestTwinNoDedupe\$' -rapid\.seed=\d+)\n`)
	for i := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTwinNoDedupe$", "-test.v", "-test.failfast",
			"-rapid.shrinktime=0", "-rapid.nofailfile")
		cmd.Env = append(os.Environ(), "HEADWIND_TWIN=no-dedupe", fmt.Sprintf("HEADWIND_SHARD=%d/4", i),
			"HEADWIND_CAMPAIGN=2026", "HEADWIND_CASES=400")
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "shard %d/4 found nothing:\n%s", i, out)
		require.Regexp(t, `--- FAIL: TestTwinNoDedupe/case=\d+`, string(out))
		require.Contains(t, string(out), "applied 2 times", "shard %d/4: the double charge", i)
		m := reReplay.FindStringSubmatch(string(out))
		require.NotNil(t, m, "shard %d/4 printed no replay command:\n%s", i, out)

		replay := exec.Command("sh", "-c", m[1]+" -rapid.shrinktime=0 -rapid.nofailfile")
		replay.Dir = filepath.Join("..", "..")
		again, err := replay.CombinedOutput()
		require.Error(t, err, "shard %d/4's failure does not replay: %s\n%s", i, m[1], again)
		require.Contains(t, string(again), "applied 2 times")
		t.Logf("shard %d/4: %s", i, m[1])
	}
}
