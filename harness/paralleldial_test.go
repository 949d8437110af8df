package harness_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// parallelPayProperty is the exactly-once property of the payment service
// (a goroutine per connection, the charges behind a mutex) driven by a
// client that pays in parallel: each round, four goroutines of one host
// dial the server at the same virtual instant, each with its own payment.
// The nemesis is off, so what fails a case is the fates of the
// connections' segments alone: with the buggy twin (no dedupe), a reply
// delayed past the 300ms attempt timeout makes the retry charge again.
func parallelPayProperty(dedupe bool) func(t *harness.T) {
	return func(t *harness.T) {
		var ledger harness.Ledger
		srv := &payServer{ledger: &ledger, dedupe: dedupe, seen: map[string]bool{}}
		ln, err := t.Net.Host("server").Listen("tcp", ":80")
		if err != nil {
			t.Fatal(err)
		}
		go srv.serve(ln)
		client := t.Net.Host("client")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for round := range 3 {
			keys := make([]string, 4)
			for i := range keys {
				keys[i] = fmt.Sprintf("p%d.%d", round, i)
				ledger.Issue(keys[i]) // in order: the ledger reports keys in first-seen order
			}
			var wg sync.WaitGroup
			for _, key := range keys {
				wg.Go(func() { payParallel(ctx, client, "server:80", key, &ledger) })
			}
			wg.Wait()
			time.Sleep(time.Second)
		}
		if err := ledger.Check(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckParallelPayPasses: the idempotent service passes under parallel
// dials.
func TestCheckParallelPayPasses(t *testing.T) {
	harness.CheckWith(t, harness.Options{MaxSteps: -1}, parallelPayProperty(true))
}

// TestTwinParallelDoubleApply is the buggy twin under parallel dials; it
// runs only in a subprocess (see TestParallelDialsReplay).
func TestTwinParallelDoubleApply(t *testing.T) {
	if harness.Twin() != "parallel-double-apply" {
		t.Skip("the buggy twin runs only in a subprocess started by TestParallelDialsReplay")
	}
	harness.CheckWith(t, harness.Options{MaxSteps: -1}, parallelPayProperty(false))
}

// parallelReplayRE finds what must be identical from one replay of a
// failing seed to the next: the failure's headline (the ledger's
// violations) and the shrunk case rapid ends with.
var parallelReplayRE = regexp.MustCompile(`(?m)key "p[^\n]*applied \d+ times[^\n]*$|headwind: case (?:faults|schedule|exact): [^\n]*`)

// TestParallelDialsReplay: a client that dials in parallel from one host
// fails the buggy twin's property, and its printed seed replays the
// identical failure — the same violations and the same shrunk case — every
// time: connections' random streams are keyed by what they carry, not by
// which goroutine dialed first. Shrinking runs to its end (its wall-clock
// limit, -rapid.shrinktime, is far beyond what it takes), so the shrunk
// case depends on the seed alone. HEADWIND_REPLAYS sets the number of
// replays (default 3; the 20-replay measurement sets 20).
func TestParallelDialsReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the buggy twin in subprocesses")
	}
	replays := 3
	if s := os.Getenv("HEADWIND_REPLAYS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "HEADWIND_REPLAYS")
		replays = n
	}
	const twin, test = "parallel-double-apply", "TestTwinParallelDoubleApply"
	args := []string{"-rapid.shrinktime=10m"}
	res := harness.RunTwin(t, test, twin, append(args, "-rapid.checks=1000")...)
	require.True(t, res.Failed, "the double-applying twin passed Check:\n%s", res.Output)
	seed := res.RapidSeed()
	require.NotEmpty(t, seed, "no -rapid.seed in the output:\n%s", res.Output)
	want := parallelReplayRE.FindAllString(res.Output, -1)
	require.NotEmpty(t, want, "no violation in the output:\n%s", res.Output)

	identical := 0
	var differ string
	for range replays {
		r := harness.RunTwin(t, test, twin, append(args, "-rapid.seed="+seed)...)
		got := parallelReplayRE.FindAllString(r.Output, -1)
		if r.Failed && slices.Equal(got, want) {
			identical++
		} else if differ == "" {
			differ = r.Output
		}
	}
	t.Logf("seed %s replayed the identical failure %d of %d times", seed, identical, replays)
	if identical < replays {
		t.Logf("the search's output:\n%s\na differing replay:\n%s", res.Output, differ)
	}
	require.GreaterOrEqual(t, identical*20, replays*19, "the printed seed replayed the identical failure %d of %d times", identical, replays)
}

// payParallel is pay with a 300ms attempt timeout and the key issued by
// the caller.
func payParallel(ctx context.Context, h *netsim.Host, addr, key string, ledger *harness.Ledger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if payOnceWithin(ctx, h, addr, key, 300*time.Millisecond) {
			ledger.Ack(key)
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
