package harness_test

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/harness"
)

// TestCampaignProbe is run by TestCampaignShards in subprocesses, one per
// shard; it does nothing in a plain run.
func TestCampaignProbe(t *testing.T) {
	if os.Getenv("HEADWIND_CAMPAIGN_PROBE") == "" {
		t.Skip("run by TestCampaignShards")
	}
	harness.CheckWith(t, harness.Options{MaxSteps: -1}, func(t *harness.T) {
		n := rapid.IntRange(0, 1<<30).Draw(t.T, "n")
		t.Logf("probe drew %d", n)
		if os.Getenv("HEADWIND_CAMPAIGN_PROBE") == "fail" && n%3 == 1 {
			t.Fatalf("probe: %d mod 3 is 1", n)
		}
	})
}

// TestCampaignShards runs one campaign of 20 cases as 4 shards in 4
// processes: their cases are disjoint, cover the campaign, and each case
// runs its own seed, the same whichever shard layout runs it.
func TestCampaignShards(t *testing.T) {
	reCase := regexp.MustCompile(`headwind: campaign 7 case (\d+): rapid seed (\d+) \(replay: -run '\^TestCampaignProbe\$' -rapid.seed=(\d+)\)`)
	run := func(shard string) map[int]uint64 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCampaignProbe$", "-test.v")
		cmd.Env = append(os.Environ(), "HEADWIND_CAMPAIGN_PROBE=1", "HEADWIND_SHARD="+shard,
			"HEADWIND_CAMPAIGN=7", "HEADWIND_CASES=20", "HEADWIND_BUDGET=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		got := map[int]uint64{}
		for _, m := range reCase.FindAllStringSubmatch(string(out), -1) {
			k, _ := strconv.Atoi(m[1])
			s, _ := strconv.ParseUint(m[2], 10, 64)
			require.Equal(t, m[2], m[3], "the replay command names the case's seed")
			got[k] = s
		}
		return got
	}
	all := map[int]uint64{}
	for i := range 4 {
		got := run(fmt.Sprintf("%d/4", i))
		require.Len(t, got, 5, "shard %d/4 runs 5 of the 20 cases", i)
		for k, s := range got {
			require.Equal(t, i, k%4, "shard %d/4 ran case %d", i, k)
			_, dup := all[k]
			require.False(t, dup, "case %d ran in two shards", k)
			all[k] = s
		}
	}
	keys := slices.Sorted(func(yield func(int) bool) {
		for k := range all {
			if !yield(k) {
				return
			}
		}
	})
	require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, keys, "the shards cover the campaign")
	seeds := map[uint64]bool{}
	for _, s := range all {
		seeds[s] = true
	}
	require.Len(t, seeds, 20, "every case has its own seed")
	// The same campaign on 2 shards runs the same cases with the same seeds.
	two := run("1/2")
	for k, s := range two {
		require.Equal(t, all[k], s, "case %d's seed does not depend on the shard layout", k)
	}
}

// TestCampaignBudget: with a budget and no case count, a shard runs cases
// until the budget is spent; a budget spent at once still runs one case.
func TestCampaignBudget(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCampaignProbe$", "-test.v")
	cmd.Env = append(os.Environ(), "HEADWIND_CAMPAIGN_PROBE=1", "HEADWIND_SHARD=2/3", "HEADWIND_CAMPAIGN=9", "HEADWIND_BUDGET=1ns")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "headwind: campaign 9, shard 2/3, cases k ≡ 2 mod 3 for 1ns")
	require.Contains(t, string(out), "=== RUN   TestCampaignProbe/case=2\n")
	require.Contains(t, string(out), "headwind: campaign budget of 1ns spent after case 2")
	require.NotContains(t, string(out), "case=5")
}

func TestCampaignBadSettings(t *testing.T) {
	for _, c := range []struct{ env, want string }{
		{"HEADWIND_SHARD=4/4", `-headwind.shard "4/4": want i/n`},
		{"HEADWIND_SHARD=1/2", "needs -headwind.campaign"},
		{"HEADWIND_CASES=0", `-headwind.cases "0"`},
		{"HEADWIND_BUDGET=-1m", `-headwind.budget "-1m"`},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCampaignProbe$", "-test.v")
		cmd.Env = append(os.Environ(), "HEADWIND_CAMPAIGN_PROBE=1", c.env)
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "%s", out)
		require.Contains(t, string(out), c.want)
	}
}

// TestCampaignFailureReplays: a campaign case that fails prints its seed,
// and that seed replays the failure in a plain run, without the campaign.
func TestCampaignFailureReplays(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCampaignProbe$", "-test.v", "-rapid.nofailfile")
	cmd.Env = append(os.Environ(), "HEADWIND_CAMPAIGN_PROBE=fail", "HEADWIND_SHARD=0/2", "HEADWIND_CAMPAIGN=11", "HEADWIND_CASES=12")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "some of 6 cases draw n with n mod 3 = 1:\n%s", out)
	m := regexp.MustCompile(`--- FAIL: TestCampaignProbe/case=(\d+)`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "%s", out)
	seed := regexp.MustCompile(`campaign 11 case ` + m[1] + `: rapid seed (\d+)`).FindStringSubmatch(string(out))
	require.NotNil(t, seed, "%s", out)

	cmd = exec.Command(os.Args[0], "-test.run=^TestCampaignProbe$", "-test.v", "-rapid.nofailfile", "-rapid.seed="+seed[1])
	cmd.Env = append(os.Environ(), "HEADWIND_CAMPAIGN_PROBE=fail")
	replay, err := cmd.CombinedOutput()
	require.Error(t, err, "the seed replays the failure:\n%s", replay)
	require.Contains(t, string(replay), "mod 3 is 1")
	require.NotContains(t, string(replay), "headwind: campaign", "a plain run, not a campaign")
}
