package netsim_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// A window beyond faultconn.MaxWindow would let the engine's
// serialization sum (bytes·1e9) overflow; it is refused, as in faultconn.
func TestWindowAboveMaxIsAnError(t *testing.T) {
	_, err := netsim.New(netsim.Config{Window: faultconn.MaxWindow + 1})
	require.EqualError(t, err, "netsim: Window 1073741825 out of range [0,1073741824] (0 means the default)")
	n, err := netsim.New(netsim.Config{Window: faultconn.MaxWindow})
	require.NoError(t, err)
	require.NoError(t, n.Close())
}
