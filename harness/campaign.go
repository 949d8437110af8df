package harness

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Campaigns: one search split over many machines. A campaign is a
// campaign seed and its cases, numbered from 0; case k has its own rapid
// seed, a function of the campaign seed and k. Shard i of n runs the
// cases k with k mod n = i, so n runners (a CI matrix, a Kubernetes
// Indexed Job's completion indexes) run disjoint cases whose union is the
// campaign, and any failing case replays on its own with the rapid seed
// it printed.
var (
	shardFlag    = flag.String("headwind.shard", "", "headwind: i/n: run the i-th (from 0) of n disjoint shares of each Check campaign (env HEADWIND_SHARD)")
	campaignFlag = flag.String("headwind.campaign", "", "headwind: the campaign seed shared by every shard (env HEADWIND_CAMPAIGN); needed with -headwind.shard")
	casesFlag    = flag.String("headwind.cases", "", "headwind: cases in the whole campaign, every shard together (env HEADWIND_CASES); empty means 100 per shard, or no bound under -headwind.budget")
	budgetFlag   = flag.String("headwind.budget", "", "headwind: real time each Check may spend starting campaign cases (env HEADWIND_BUDGET), e.g. 10m")
)

// MaxShards is the largest n of -headwind.shard=i/n.
const MaxShards = 1 << 16

// campaign is a Check campaign's settings; active is false for a plain
// Check.
type campaign struct {
	active bool
	seed   uint64
	i, n   int
	cases  int           // total over every shard; 0: until the budget
	budget time.Duration // 0: none
}

// campaignSettings reads the campaign flags.
func campaignSettings() (campaign, error) {
	c := campaign{n: 1}
	shard := setting(shardFlag, "HEADWIND_SHARD")
	seed := setting(campaignFlag, "HEADWIND_CAMPAIGN")
	cases := setting(casesFlag, "HEADWIND_CASES")
	budget := setting(budgetFlag, "HEADWIND_BUDGET")
	if shard == "" && seed == "" && cases == "" && budget == "" {
		return c, nil
	}
	c.active = true
	if shard != "" {
		is, ns, ok := strings.Cut(shard, "/")
		i, err1 := strconv.Atoi(is)
		n, err2 := strconv.Atoi(ns)
		if !ok || err1 != nil || err2 != nil || n < 1 || n > MaxShards || i < 0 || i >= n {
			return c, fmt.Errorf("harness: -headwind.shard %q: want i/n with 1 <= n <= %d and 0 <= i < n (e.g. 0/4)", shard, MaxShards)
		}
		c.i, c.n = i, n
	}
	switch {
	case seed != "":
		s, err := strconv.ParseUint(seed, 0, 64)
		if err != nil {
			return c, fmt.Errorf("harness: -headwind.campaign %q: not an unsigned 64-bit integer", seed)
		}
		c.seed = s
	case c.n > 1:
		return c, fmt.Errorf("harness: -headwind.shard %s needs -headwind.campaign: the shards of one campaign must share its seed", shard)
	default:
		c.seed = rand.Uint64() // one runner: a fresh campaign, printed
	}
	if cases != "" {
		k, err := strconv.Atoi(cases)
		if err != nil || k < 1 {
			return c, fmt.Errorf("harness: -headwind.cases %q: want a number of cases >= 1", cases)
		}
		c.cases = k
	}
	if budget != "" {
		d, err := time.ParseDuration(budget)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("harness: -headwind.budget %q: want a duration > 0 (e.g. 10m)", budget)
		}
		c.budget = d
	}
	if c.cases == 0 && c.budget == 0 {
		c.cases = 100 * c.n
	}
	return c, nil
}

// caseSeed is the rapid seed of case k: never 0, which rapid reads as
// "pick one at random".
func (c campaign) caseSeed(k int) uint64 {
	s := splitmix64(c.seed ^ splitmix64(uint64(k)))
	if s == 0 {
		s = 1
	}
	return s
}

// rapidFlags serializes the campaigns' use of rapid's flags, which are
// the only way to give rapid.Check a seed.
var rapidFlags sync.Mutex

// runCampaign runs this shard's cases of the campaign, each as a subtest
// "case=k" that runs check (rapid.Check) on the case's seed alone (so a failure
// shrinks, and its failfile's name, which carries the subtest's, does not
// clash with another runner's). Each case logs its campaign, number and
// seed. It stops starting cases when the budget is spent (after the
// first case, which always runs).
func runCampaign(t *testing.T, c campaign, check func(t *testing.T)) {
	t.Helper()
	t.Logf("headwind: campaign %d, shard %d/%d, %s", c.seed, c.i, c.n, c.extent())
	start := time.Now()
	for k := c.i; c.cases == 0 || k < c.cases; k += c.n {
		if c.budget > 0 && k != c.i && time.Since(start) >= c.budget {
			t.Logf("headwind: campaign budget of %v spent after case %d", c.budget, k-c.n)
			return
		}
		seed := c.caseSeed(k)
		ok := t.Run(fmt.Sprintf("case=%d", k), func(t *testing.T) {
			t.Logf("headwind: campaign %d case %d: rapid seed %d (replay: -run '^%s$' -rapid.seed=%d)",
				c.seed, k, seed, strings.SplitN(t.Name(), "/", 2)[0], seed)
			rapidFlags.Lock()
			defer rapidFlags.Unlock()
			restore := setFlags(t, map[string]string{"rapid.seed": strconv.FormatUint(seed, 10), "rapid.checks": "1"})
			defer restore()
			check(t)
		})
		if !ok && testing.Short() {
			return
		}
	}
}

// extent describes how many cases the shard runs.
func (c campaign) extent() string {
	switch {
	case c.cases > 0 && c.budget > 0:
		return fmt.Sprintf("cases k ≡ %d mod %d of %d, for at most %v", c.i, c.n, c.cases, c.budget)
	case c.cases > 0:
		return fmt.Sprintf("cases k ≡ %d mod %d of %d", c.i, c.n, c.cases)
	}
	return fmt.Sprintf("cases k ≡ %d mod %d for %v", c.i, c.n, c.budget)
}

// setFlags sets flags by name and returns a function that restores them.
func setFlags(t *testing.T, values map[string]string) (restore func()) {
	old := map[string]string{}
	for name, v := range values {
		f := flag.Lookup(name)
		if f == nil {
			t.Fatalf("harness: flag -%s is not defined", name)
		}
		old[name] = f.Value.String()
		if err := f.Value.Set(v); err != nil {
			t.Fatalf("harness: -%s=%s: %v", name, v, err)
		}
	}
	return func() {
		for name, v := range old {
			flag.Lookup(name).Value.Set(v)
		}
	}
}

// campaignCase reports whether t is a campaign's case=k subtest.
func campaignCase(t *testing.T) bool {
	_, sub, ok := strings.Cut(t.Name(), "/")
	return ok && strings.HasPrefix(sub, "case=") && !strings.Contains(sub, "/")
}
