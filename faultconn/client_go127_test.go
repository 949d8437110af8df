//go:build go1.27

package faultconn_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
)

// TestWrapClientOnTestServer puts weather on Go 1.27's in-memory test
// server: a request takes exactly the latency both ways; under a
// partition it times out at exactly the client's timeout; after the heal
// it succeeds again, over http and https.
func TestWrapClientOnTestServer(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			srv := httptest.NewTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello")
			}))
			client := srv.Client()
			d, err := faultconn.WrapClient(client, faultconn.Config{
				Out: faultconn.Profile{Latency: 50 * time.Millisecond},
				In:  faultconn.Profile{Latency: 30 * time.Millisecond},
			})
			require.NoError(t, err)
			url := srv.URL
			if tlsOn {
				url = "https://example.com"
			}
			get := func(timeout time.Duration) (string, time.Duration, error) {
				ctx, cancel := context.WithTimeout(t.Context(), timeout)
				defer cancel()
				start := time.Now()
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				resp, err := client.Do(req)
				if err != nil {
					return "", time.Since(start), err
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				return string(b), time.Since(start), err
			}

			body, took, err := get(time.Minute)
			require.NoError(t, err)
			require.Equal(t, "hello", body)
			if !tlsOn {
				require.Equal(t, 80*time.Millisecond, took, "one round trip: 50ms out, 30ms back")
			}
			body, took, err = get(time.Minute)
			require.NoError(t, err)
			require.Equal(t, 80*time.Millisecond, took, "the kept-alive conn: one round trip")

			d.Partition()
			_, took, err = get(2 * time.Second)
			require.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
			require.Equal(t, 2*time.Second, took, "times out at exactly the deadline")

			d.Heal()
			body, _, err = get(time.Minute)
			require.NoError(t, err)
			require.Equal(t, "hello", body, "recovers after the heal")
			srv.Close()
			d.Close() // waits for the conns' pumps
		})
	}
}
