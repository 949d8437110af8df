package netsim_test

import (
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

func newNet(t *testing.T, cfg netsim.Config) *netsim.Network {
	t.Helper()
	n, err := netsim.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

func TestDialTakesOneRoundTrip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 50 * time.Millisecond}})
		ln, err := n.Host("b").Listen("tcp", ":80")
		require.NoError(t, err)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
			c.Close()
		}()
		start := time.Now()
		c, err := n.Host("a").Dial("tcp", "b:80")
		require.NoError(t, err)
		require.Equal(t, 100*time.Millisecond, time.Since(start))
		require.Equal(t, "198.18.0.1:80", c.RemoteAddr().String())
		require.IsType(t, &net.TCPAddr{}, c.LocalAddr())
		_, err = c.Write([]byte("hello"))
		require.NoError(t, err)
		buf := make([]byte, 5)
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		require.Equal(t, "hello", string(buf))
		require.Equal(t, 200*time.Millisecond, time.Since(start))
		c.Close()
		n.Close()
	})
}
