package httpretry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/examples/httpretry"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// TestDoc runs the snippet of the package documentation; keep in sync
// with package documentation.
func TestDoc(t *testing.T) {
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		ctx := context.Background()
		ln, err := n.Host("server").Listen("tcp", ":80")
		require.NoError(t, err)
		host := n.Host("client")
		charge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
		body := []byte("42 EUR")

		srv := &http.Server{Handler: &httpretry.Deduper{Next: charge}}
		go srv.Serve(ln)
		c := &httpretry.Client{Dial: host.DialContext, Timeout: time.Second, Breaker: &httpretry.Breaker{}}
		defer c.CloseIdleConnections()
		resp, err := c.Post(ctx, "http://server/charge", "payment-42", body)
		if errors.Is(err, httpretry.ErrOpen) {
			t.Fatal("failed fast: the server has been failing")
		}

		require.NoError(t, err)
		require.Equal(t, "42 EUR", string(resp.Body))
		require.NoError(t, srv.Close())
	})
}
