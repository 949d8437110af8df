package faultconn_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
)

type roundTripper struct{}

func (roundTripper) RoundTrip(*http.Request) (*http.Response, error) { return nil, nil }

func TestWrapClientBadInput(t *testing.T) {
	_, err := faultconn.WrapClient(nil, faultconn.Config{})
	require.ErrorContains(t, err, "faultconn: WrapClient: nil *http.Client")
	_, err = faultconn.WrapClient(&http.Client{Transport: roundTripper{}}, faultconn.Config{})
	require.ErrorContains(t, err, "the client's Transport is a faultconn_test.roundTripper; it must be an *http.Transport")
	_, err = faultconn.WrapClient(&http.Client{}, faultconn.Config{Out: faultconn.Profile{Loss: 2}})
	require.ErrorContains(t, err, "Loss")

	c := &http.Client{}
	d, err := faultconn.WrapClient(c, faultconn.Config{Out: faultconn.Profile{Latency: time.Millisecond}})
	require.NoError(t, err)
	require.NotNil(t, c.Transport, "a nil Transport becomes a clone of the default one")
	require.NoError(t, d.Close())
	_, err = d.Dial("tcp", "127.0.0.1:1")
	require.ErrorContains(t, err, "use of closed network connection", "a closed Dialer dials no more")
}
