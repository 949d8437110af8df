package faultconn_test

import (
	"context"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
)

// Values beyond the documented maxima used to be accepted and then
// overflowed in the engine's sums: a reordered segment with a latency of
// half the largest Duration arrived at once.
func TestValidateRejectsValuesThatWouldOverflow(t *testing.T) {
	for _, tc := range []struct {
		p    faultconn.Profile
		want string
	}{
		{faultconn.Profile{Latency: faultconn.MaxLatency + 1}, "faultconn: Latency 24h0m0.000000001s out of range [0,24h0m0s]"},
		{faultconn.Profile{Latency: math.MaxInt64/2 + 1, Reorder: 1}, "faultconn: Latency 1281023h53m38.427387904s out of range [0,24h0m0s]"},
		{faultconn.Profile{Jitter: math.MaxInt64}, "faultconn: Jitter 2562047h47m16.854775807s out of range [0,24h0m0s]"},
		{faultconn.Profile{Bandwidth: faultconn.MaxBandwidth + 1}, "faultconn: Bandwidth 1099511627777 out of range [0,1099511627776] (0 means unlimited)"},
		{faultconn.Profile{Bandwidth: math.MaxInt64}, "faultconn: Bandwidth 9223372036854775807 out of range [0,1099511627776]"},
	} {
		require.ErrorContains(t, tc.p.Validate(), tc.want)
		// The spec form is refused too, naming the key and the range.
		_, err := faultconn.ParseProfile(tc.p.String())
		require.ErrorContains(t, err, "out of range", tc.p.String())
	}
	_, err := faultconn.ParseProfile("latency=25h")
	require.EqualError(t, err, `faultconn: profile "latency=25h": latency: duration "25h" out of range [0,24h0m0s]`)
	_, err = faultconn.ParseProfile("jitter=1000h")
	require.EqualError(t, err, `faultconn: profile "jitter=1000h": jitter: duration "1000h" out of range [0,24h0m0s]`)
	_, err = faultconn.ParseProfile("bandwidth=2048GiB/s")
	require.EqualError(t, err, `faultconn: profile "bandwidth=2048GiB/s": bandwidth: rate "2048GiB/s" out of range [0,1099511627776] bytes/s (1024GiB/s)`)

	_, err = faultconn.Wrap(nopConn{}, faultconn.Config{Window: faultconn.MaxWindow + 1})
	require.EqualError(t, err, "faultconn: Window 1073741825 out of range [0,1073741824] (0 means 262144)")

	// The maxima themselves are valid, and their specs round-trip.
	most := faultconn.Profile{Latency: faultconn.MaxLatency, Jitter: faultconn.MaxJitter, Bandwidth: faultconn.MaxBandwidth}
	require.NoError(t, most.Validate())
	back, err := faultconn.ParseProfile(most.String())
	require.NoError(t, err)
	require.Equal(t, most, back)
	require.NoError(t, faultconn.Config{Window: faultconn.MaxWindow, Out: most, In: most}.Validate())
}

// nopConn is a net.Conn that is never used: the Wrap calls it is handed to
// fail first.
type nopConn struct{ net.Conn }

// At the largest latency, the reorder hold (one more Latency) still adds
// up: the segment arrives after exactly two MaxLatency, not at once.
func TestMaxLatencyReorderHoldAddsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{Out: faultconn.Profile{Latency: faultconn.MaxLatency, Reorder: 1}}, faultconn.Profile{})
		start := time.Now()
		_, err := a.Write([]byte("late"))
		require.NoError(t, err)
		buf := make([]byte, 4)
		_, err = io.ReadFull(b, buf)
		require.NoError(t, err)
		require.Equal(t, "late", string(buf))
		require.Equal(t, 2*faultconn.MaxLatency, time.Since(start))
	})
}

// At the largest latency and jitter, with the heaviest tail, every
// segment still arrives in the future, in order, within the bound the
// docs of MaxJitter give.
func TestMaxJitterParetoAddsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := faultconn.Profile{Latency: faultconn.MaxLatency, Jitter: faultconn.MaxJitter, Distribution: faultconn.Pareto, Reorder: 0.5}
		a, b := pipePair(t, faultconn.Config{Seed: 3, Out: p}, faultconn.Profile{})
		start := time.Now()
		for i := range 8 {
			_, err := a.Write([]byte{byte('a' + i)})
			require.NoError(t, err)
		}
		buf := make([]byte, 8)
		_, err := io.ReadFull(b, buf)
		require.NoError(t, err)
		require.Equal(t, "abcdefgh", string(buf), "Stream mode keeps the order")
		elapsed := time.Since(start)
		require.Greater(t, elapsed, time.Duration(0))
		require.Less(t, elapsed, 11550*faultconn.MaxJitter+2*faultconn.MaxLatency)
	})
}

// Serialization at the lowest bandwidth, 1 byte/s, of a whole 1 MiB
// segment: bytes·1e9 stays far from overflowing.
func TestSlowestBandwidthAddsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipePair(t, faultconn.Config{Window: 2 << 20, Out: faultconn.Profile{Bandwidth: 1}}, faultconn.Profile{})
		data := make([]byte, 1<<20)
		start := time.Now()
		_, err := a.Write(data)
		require.NoError(t, err)
		_, err = io.ReadFull(b, data)
		require.NoError(t, err)
		require.Equal(t, time.Duration(1<<20)*time.Second, time.Since(start))
	})
}

func TestWrapListenerNil(t *testing.T) {
	l, err := faultconn.WrapListener(nil, faultconn.Config{})
	require.EqualError(t, err, "faultconn: WrapListener: nil net.Listener")
	require.Nil(t, l)
}

func TestDialerBaseReturningNothing(t *testing.T) {
	d := &faultconn.Dialer{Base: func(context.Context, string, string) (net.Conn, error) { return nil, nil }}
	c, err := d.Dial("tcp", "example:80")
	require.EqualError(t, err, "faultconn: Dialer.Base returned a nil net.Conn and a nil error dialing tcp example:80")
	require.Nil(t, c)
	require.True(t, strings.HasPrefix(err.Error(), "faultconn: "))
}
