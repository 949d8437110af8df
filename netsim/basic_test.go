package netsim_test

import (
	"io"
	"net"
	"net/netip"
	"syscall"
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

func TestBadInputIsAnError(t *testing.T) {
	_, err := netsim.New(netsim.Config{Window: -1, Backlog: -2, MaxDatagram: 70000, Default: faultconn.Profile{Loss: 2}})
	require.Error(t, err)
	for _, want := range []string{"netsim: Window -1 out of range", "netsim: Backlog -2 out of range", "netsim: MaxDatagram 70000 out of range [0,65535]", "Loss 2 out of range [0,1]"} {
		require.Contains(t, err.Error(), want)
	}
	n := newNet(t, netsim.Config{})
	bad := n.Host("no_underscores")
	_, err = bad.Listen("tcp", ":80")
	require.ErrorContains(t, err, `netsim: host name "no_underscores" is not a valid DNS label`)
	_, err = bad.Dial("tcp", "x:80")
	require.ErrorContains(t, err, "not a valid DNS label")
	_, err = n.Host("a").Listen("udp", ":80")
	require.ErrorContains(t, err, "unknown network udp")
	_, err = n.Host("a").Listen("tcp", ":99999")
	require.ErrorContains(t, err, "invalid port")
	_, err = n.Host("a").Listen("tcp", "b:80")
	require.ErrorContains(t, err, "not an address of host a")
	require.ErrorContains(t, n.SetLink("a", "b", faultconn.Profile{Jitter: -1}), "Jitter -1ns out of range")
	_, err = n.AddHost("c", netip.MustParseAddr("::1"))
	require.ErrorContains(t, err, "out of range")
	_, err = n.AddHost("a", netip.MustParseAddr("10.0.0.1"))
	require.ErrorContains(t, err, "already exists")
	ln, err := n.Host("a").Listen("tcp", ":80")
	require.NoError(t, err)
	_, err = n.Host("a").Listen("tcp", ":80")
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	ln.Close()
}

func TestStatsAndDump(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Seed: 3, Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		require.NoError(t, n.SetLink("a", "b", faultconn.Profile{Latency: 10 * time.Millisecond, Loss: 0.5}))
		ln, err := n.Host("b").Listen("tcp", ":80")
		require.NoError(t, err)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, c)
		}()
		c, err := n.Host("a").Dial("tcp", "b:80")
		require.NoError(t, err)
		for range 20 {
			_, err := c.Write([]byte("0123456789"))
			require.NoError(t, err)
		}
		n.Partition([]string{"a"}, []string{"b"})
		time.Sleep(5 * time.Second)
		st := n.Stats()
		name := c.(*netsim.Conn).Name()
		require.Equal(t, "a:49152->b:80#1", name)
		require.Equal(t, uint64(20), st.Links[name].Out.Segments)
		require.Equal(t, uint64(200), st.Links[name].Out.Bytes)
		require.Greater(t, st.Links[name].Out.Lost, uint64(0))
		require.Equal(t, st.Links[name].Out.Lost, st.Total.Lost)
		dump := n.Dump()
		for _, want := range []string{"netsim: seed 3", "host a 198.18.0.2", "host b 198.18.0.1", "link a->b latency=10ms loss=50%", "partition [a] [b]", "conn a:49152->b:80#1"} {
			require.Contains(t, dump, want)
		}
		n.Close()
	})
}

// TestFatesDoNotDependOnDialOrder: a connection's fates depend on the
// seed and its own traffic, not on which other servers its host dialed
// first (which shifts its ephemeral port).
func TestFatesDoNotDependOnDialOrder(t *testing.T) {
	delivered := func(order []string) uint64 {
		var got uint64
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: 9, Mode: faultconn.Segments, Default: faultconn.Profile{Latency: time.Millisecond, Loss: 0.5}})
			for _, s := range []string{"s1", "s2"} {
				ln, err := n.Host(s).Listen("tcp", ":80")
				require.NoError(t, err)
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						go io.Copy(io.Discard, c)
					}
				}()
			}
			conns := map[string]net.Conn{}
			for _, s := range order {
				c, err := n.Host("c").Dial("tcp", s+":80")
				require.NoError(t, err)
				conns[s] = c
			}
			for range 100 {
				_, err := conns["s1"].Write([]byte("x"))
				require.NoError(t, err)
			}
			time.Sleep(time.Second)
			got = conns["s1"].(*netsim.Conn).Stats().Out.Delivered
			n.Close()
		})
		return got
	}
	a, b := delivered([]string{"s1", "s2"}), delivered([]string{"s2", "s1"})
	require.Equal(t, a, b)
	require.Less(t, a, uint64(100), "loss 50% lost nothing")
}
