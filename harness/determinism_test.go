package harness_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
)

// TestDeterminismOfPaymentProperty: the payment property replays
// identically: the same draws give the same traces, case after case.
func TestDeterminismOfPaymentProperty(t *testing.T) {
	harness.CheckDeterminism(t, harness.Options{}, 10, payProperty(true))
}

// TestDeterminismCatchesGlobalRandom: a property that takes the number of
// payments from the global random source does not replay; the check says
// where the two runs parted.
func TestDeterminismCatchesGlobalRandom(t *testing.T) {
	err := harness.FindNondeterminism(t, harness.Options{MaxSteps: -1}, 10, func(t *harness.T) {
		var ledger harness.Ledger
		srv := &payServer{ledger: &ledger, dedupe: true, seen: map[string]bool{}}
		ln, err := t.Net.Host("server").Listen("tcp", ":80")
		if err != nil {
			t.Fatal(err)
		}
		go srv.serve(ln)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := range 1 + rand.IntN(1000) { // not from t: a different count each run
			pay(ctx, t.Net.Host("client"), "server:80", fmt.Sprint(i), &ledger)
		}
	})
	require.Error(t, err)
	t.Log(err)
	require.Regexp(t, `case \d+ ran differently twice with the same draws: link client:\d+->server:80#\d+: `, err.Error())
}

func TestOptionsAreValidated(t *testing.T) {
	err := harness.FindNondeterminism(t, harness.Options{Duration: -time.Second, Mode: 5}, 1, func(*harness.T) {})
	require.ErrorContains(t, err, "harness: Options.Duration -1s out of range [0,24h0m0s]")
	require.ErrorContains(t, err, "harness: Options.Mode 5 out of range [0,1]")
}
