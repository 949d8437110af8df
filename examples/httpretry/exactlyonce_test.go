package httpretry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/examples/httpretry"
	"github.com/headwind-go/headwind/harness"
)

// payments is how many payments each case makes, one after another, the
// i-th starting at i*paymentEvery (or when the one before has ended, if
// later), so that they span the nemesis schedule's 10s.
const (
	payments     = 10
	paymentEvery = time.Second
)

// offGrid moves the client's attempt timeout off the grid of round
// milliseconds. rapid likes round faults (a latency of exactly 100ms, no
// jitter), and the network retransmits at round 200ms intervals, so with
// a round timeout a response can be due at the very instant its attempt
// times out. net/http then chooses between the two at random (a select),
// and the case would not replay the same way from its seed.
const offGrid = 1234567 * time.Nanosecond

// exactlyOnce is the property: under any drawn faults and nemesis
// schedule, no payment is charged twice, however often the client
// retries it. The server charges by calling ledger.Apply with the payment
// named in the body; with dedupe it sits behind a Deduper, as it should,
// and without (the buggy twin) every attempt that reaches it charges.
//
// After the payments, the case waits for the nemesis to heal the network
// and then for a minute more, so that requests the network still holds
// (retransmissions of attempts the client gave up on long ago) arrive
// before the books are balanced.
func exactlyOnce(dedupe bool) func(t *harness.T) {
	return func(t *harness.T) {
		var ledger harness.Ledger
		var charge http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "cut short", http.StatusInternalServerError) // no effect: retry
				return
			}
			ledger.Apply(string(body))
			fmt.Fprintf(w, "charged %s", body)
		})
		if dedupe {
			charge = &httpretry.Deduper{Next: charge, Capacity: 4 * payments}
		}
		srv := &http.Server{Handler: charge}
		ln, err := t.Net.Host("server").Listen("tcp", ":80")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { srv.Serve(ln) })
		timeout := time.Duration(rapid.IntRange(1, 10).Draw(t.T, "timeout (100ms)"))*100*time.Millisecond + offGrid
		c := &httpretry.Client{
			Dial:     t.Net.Host("client").DialContext,
			Timeout:  timeout,
			Attempts: 5,
			Backoff:  100 * time.Millisecond,
			Breaker:  &httpretry.Breaker{Failures: 4, CoolDown: time.Second},
		}
		defer func() {
			c.CloseIdleConnections()
			srv.Close()
			wg.Wait()
		}()

		ctx := context.Background()
		start := time.Now()
		for i := range payments {
			time.Sleep(time.Until(start.Add(time.Duration(i) * paymentEvery)))
			key := fmt.Sprintf("p%d", i)
			ledger.Issue(key)
			resp, err := c.Post(ctx, "http://server/charge", key, []byte(key))
			if err == nil && resp.StatusCode == http.StatusOK {
				if want := "charged " + key; string(resp.Body) != want {
					t.Fatalf("payment %s answered %q, want %q", key, resp.Body, want)
				}
				ledger.Ack(key)
			}
		}
		<-t.Healed()
		time.Sleep(time.Minute)
		if err := ledger.Check(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExactlyOnce: with idempotency keys and a deduplicating server, no
// retry is carried out twice.
//
// The faults are Check's defaults, which leave out Profile.Reset, and
// that matters to net/http: an injected reset fails the client's write
// and its pending read at one instant, net/http's write and read loops
// race to report it, and which wins decides whether the Transport
// retries the request itself, so a case would not replay the same way.
func TestExactlyOnce(t *testing.T) {
	harness.Check(t, exactlyOnce(true))
}

// TestExactlyOnceDeterministic: cases of TestExactlyOnce's property, run
// twice each with the same draws, go the same way on the wire: the
// property has no randomness or same-instant race of its own, so the
// seed a failure prints replays it.
func TestExactlyOnceDeterministic(t *testing.T) {
	harness.CheckDeterminism(t, harness.Options{}, 0, exactlyOnce(true))
}

// TestTwinNoIdempotencyKey is the buggy twin: the server does not
// deduplicate, so the keys the client sends are worth nothing. It fails,
// as it should; it runs only in the subprocess that
// TestCheckCatchesMissingIdempotencyKey starts.
func TestTwinNoIdempotencyKey(t *testing.T) {
	if harness.Twin() != "no-idempotency-key" {
		t.Skip("a buggy twin; run by TestCheckCatchesMissingIdempotencyKey")
	}
	harness.Check(t, exactlyOnce(false))
}

// TestCheckCatchesMissingIdempotencyKey proves the property on the buggy
// twin: Check finds a payment charged twice, prints how to replay it, and
// the printed seed fails the same way on every replay.
func TestCheckCatchesMissingIdempotencyKey(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the buggy twin in subprocesses")
	}
	start := time.Now()
	doubleCharge := regexp.MustCompile(`key "p\d+" applied \d+ times`)
	// Check catches the twin in a median of 23 cases (at most 52 over 20
	// seeds, swarm on or off: the README's catalogue of planted bugs);
	// 300 makes a miss vanishingly rare. Shrinking is off (-rapid.shrinktime=0):
	// rapid stops it at a wall-clock deadline, so what it printed would
	// depend on the machine's load.
	res := harness.RunTwin(t, "TestTwinNoIdempotencyKey", "no-idempotency-key", "-rapid.checks=300", "-rapid.shrinktime=0")
	require.True(t, res.Failed, "the twin passed:\n%s", res.Output)
	require.Regexp(t, doubleCharge, res.Output)
	require.Contains(t, res.Output, "headwind: FAILED case (network seed")
	seed := res.RapidSeed()
	require.NotEmpty(t, seed, "no -rapid.seed in the output:\n%s", res.Output)
	t.Logf("caught in %v (wall, with the subprocess's start): %s", time.Since(start), doubleCharge.FindString(res.Output))

	replays := make([]harness.TwinResult, 3)
	var wg sync.WaitGroup
	for i := range replays {
		wg.Go(func() {
			replays[i] = harness.RunTwin(t, "TestTwinNoIdempotencyKey", "no-idempotency-key",
				"-rapid.seed="+seed, "-rapid.checks=1", "-rapid.shrinktime=0")
		})
	}
	wg.Wait()
	for i, r := range replays {
		require.True(t, r.Failed, "replay %d of -rapid.seed=%s passed:\n%s", i, seed, r.Output)
		require.Regexp(t, doubleCharge, r.Output, "replay %d failed differently:\n%s", i, r.Output)
	}
}
