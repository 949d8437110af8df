package kv_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
)

// TestCampaignFindsDoubleCharge splits one campaign over the no-dedupe
// twin into 4 shards, run as 4 processes: every shard finds the double
// charge, and every shard's failure replays from the command its report
// printed, run as printed from the module root. The shards write their
// failure files into one directory, as a CI job gathering its runners'
// artifacts would: each shard's failure.json is there, under a name of
// its own.
func TestCampaignFindsDoubleCharge(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a buggy twin in subprocesses")
	}
	reReplay := regexp.MustCompile(`replay: (HEADWIND_TWIN=no-dedupe go test \./examples/kv -run '\^TestTwinNoDedupe\$' -rapid\.seed=\d+)\n`)
	artifacts := t.TempDir() // every shard's, merged
	failed := map[string]bool{}
	for i := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTwinNoDedupe$", "-test.v", "-test.failfast",
			"-rapid.shrinktime=0", "-rapid.nofailfile")
		cmd.Env = append(os.Environ(), "HEADWIND_TWIN=no-dedupe", fmt.Sprintf("HEADWIND_SHARD=%d/4", i),
			"HEADWIND_CAMPAIGN=2026", "HEADWIND_CASES=400", "HEADWIND_TRACE="+artifacts)
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "shard %d/4 found nothing:\n%s", i, out)
		fail := regexp.MustCompile(`--- FAIL: TestTwinNoDedupe/case=(\d+)`).FindStringSubmatch(string(out))
		require.NotNil(t, fail, "%s", out)
		k, _ := strconv.Atoi(fail[1])
		require.Equal(t, i, k%4, "shard %d/4 ran case %d", i, k)
		failed["TestTwinNoDedupe/case="+fail[1]] = true
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

	reports, err := filepath.Glob(filepath.Join(artifacts, "*.failure.json"))
	require.NoError(t, err)
	require.Len(t, reports, len(failed), "one failure.json per shard's failure, none overwritten")
	for _, path := range reports {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		var f harness.Failure
		require.NoError(t, json.Unmarshal(b, &f))
		require.True(t, failed[f.Test], "%s is of %s, not a failing case", path, f.Test)
		delete(failed, f.Test)
	}
}
