package saga_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/examples/saga"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// TestDoc runs the snippet of the package documentation; keep in sync
// with package documentation.
func TestDoc(t *testing.T) {
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		ctx := context.Background()
		var ledger harness.Ledger

		for _, name := range []string{"flight", "hotel", "car"} {
			ln, _ := n.Host(name).Listen("tcp", ":80")
			go http.Serve(ln, &saga.Service{Name: name, Ledger: &ledger})
		}
		o := &saga.Orchestrator{
			Client: &http.Client{Transport: &http.Transport{DialContext: n.Host("agency").DialContext}},
			Steps: []saga.Step{
				{Name: "flight", URL: "http://flight"},
				{Name: "hotel", URL: "http://hotel"},
				{Name: "car", URL: "http://car"},
			},
			Ledger: &ledger, // Issue, Ack, Reject; the services Apply
		}
		res, err := o.BookTrip(ctx, "trip-42") // res.Booked, or res.Failed and res.Compensated

		require.NoError(t, err)
		require.True(t, res.Booked)
		require.NoError(t, ledger.Check())
		require.Equal(t, 3, ledger.Counts().Acked)
	})
}
