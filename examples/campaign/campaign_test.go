// Package campaign holds a GitHub Actions workflow and a Kubernetes Job
// that split one headwind campaign over several runners (see the README's
// "Campaigns" section); its test runs their commands.
package campaign

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCampaignRecipes runs the go test command of each recipe from the
// module root, as written, with its placeholders filled in (shard 1 of 4,
// campaign 5) and its budget cut so that the shard runs one case.
func TestCampaignRecipes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	fill := strings.NewReplacer(
		"${{ matrix.shard }}", "1", "${{ github.run_id }}", "5",
		"$JOB_COMPLETION_INDEX", "1", "$CAMPAIGN", "5",
		"-headwind.budget=10m", "-headwind.budget=1ns",
		"-headwind.trace=failures", "-headwind.trace="+t.TempDir(), "-headwind.trace=/tmp/failures", "-headwind.trace="+t.TempDir())
	reCmd := regexp.MustCompile(`go test (\S+) -run '([^']+)' ([^;\n]*)`)
	for _, recipe := range []string{"github-actions.yml", "k8s-job.yaml"} {
		b, err := os.ReadFile(recipe)
		require.NoError(t, err)
		m := reCmd.FindStringSubmatch(string(b))
		require.NotNil(t, m, "%s has a go test command", recipe)
		args := append([]string{"test", m[1], "-count=1", "-run", m[2]}, strings.Fields(fill.Replace(m[3]))...)
		cmd := exec.Command("go", args...)
		cmd.Dir = filepath.Join("..", "..")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: go %s\n%s", recipe, strings.Join(args, " "), out)
		require.Contains(t, string(out), "headwind: campaign 5, shard 1/4", recipe)
		require.Contains(t, string(out), "headwind: campaign 5 case 1: rapid seed", recipe)
		require.Contains(t, string(out), "headwind: campaign budget of 1ns spent after case 1", recipe)
	}
}
