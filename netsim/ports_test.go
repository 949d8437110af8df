package netsim_test

// Tests of TCP port accounting: which ports Listen may bind again, and
// which ones dials take.

import (
	"io"
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// TestListenAgainWhileAcceptedConnsLive: as on Linux with Go's
// SO_REUSEADDR, a port whose listener closed can be listened on again
// while conns it accepted are still open; only a live listener, or a
// dialed conn, holds a port against Listen.
func TestListenAgainWhileAcceptedConnsLive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 5 * time.Millisecond}})
		srv, cli := n.Host("server"), n.Host("client")
		ln, err := srv.Listen("tcp", ":80")
		require.NoError(t, err)
		_, err = srv.Listen("tcp", ":80")
		require.ErrorIs(t, err, syscall.EADDRINUSE, "a live listener holds the port")

		c1, err := cli.Dial("tcp", "server:80")
		require.NoError(t, err)
		s1, err := ln.Accept()
		require.NoError(t, err)
		require.NoError(t, ln.Close())

		ln2, err := srv.Listen("tcp", ":80")
		require.NoError(t, err, "accepted conns do not hold the port")
		_, err = srv.Listen("tcp", ":80")
		require.ErrorIs(t, err, syscall.EADDRINUSE)

		// The old conn still works, and new dials reach the new listener.
		start := time.Now()
		_, err = c1.Write([]byte("old"))
		require.NoError(t, err)
		buf := make([]byte, 8)
		nr, err := s1.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "old", string(buf[:nr]))
		require.Equal(t, 5*time.Millisecond, time.Since(start))

		c2, err := cli.Dial("tcp", "server:80")
		require.NoError(t, err)
		s2, err := ln2.Accept()
		require.NoError(t, err)
		require.Equal(t, c2.LocalAddr().String(), s2.RemoteAddr().String())
		require.NotEqual(t, c1.LocalAddr().String(), c2.LocalAddr().String())

		// A dialed conn's port is held against Listen.
		port := c1.LocalAddr().(*net.TCPAddr).Port
		_, err = cli.Listen("tcp", c1.LocalAddr().String())
		require.ErrorIs(t, err, syscall.EADDRINUSE, "port %d is a dialed conn's", port)

		for _, c := range []net.Conn{c1, s1, c2, s2} {
			require.NoError(t, c.Close())
		}
		require.NoError(t, ln2.Close())
		l, err := cli.Listen("tcp", c1.LocalAddr().String())
		require.NoError(t, err, "a closed conn's port is free")
		require.NoError(t, l.Close())
	})
}

// TestEphemeralPortSkipsLiveConns: a dial's ephemeral port never collides
// with a live conn on the host, including conns accepted on an ephemeral
// port whose listener has closed and a port listened on again.
func TestEphemeralPortSkipsLiveConns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{})
		a, b := n.Host("a"), n.Host("b")
		// a listens on the first two ephemeral ports and accepts a conn on
		// each; then both listeners close.
		var accepted []net.Conn
		for _, port := range []string{"49152", "49153"} {
			ln, err := a.Listen("tcp", ":"+port)
			require.NoError(t, err)
			c, err := b.Dial("tcp", "a:"+port)
			require.NoError(t, err)
			s, err := ln.Accept()
			require.NoError(t, err)
			accepted = append(accepted, c, s)
			require.NoError(t, ln.Close())
		}
		// Listening again on 49153 is allowed; dials from a skip both
		// ports while their conns live.
		ln, err := a.Listen("tcp", ":49153")
		require.NoError(t, err)
		ln80, err := b.Listen("tcp", ":80")
		require.NoError(t, err)
		go func() {
			for {
				c, err := ln80.Accept()
				if err != nil {
					return
				}
				go io.Copy(io.Discard, c)
			}
		}()
		seen := map[int]bool{}
		for range 3 {
			c, err := a.Dial("tcp", "b:80")
			require.NoError(t, err)
			port := c.LocalAddr().(*net.TCPAddr).Port
			require.False(t, seen[port])
			seen[port] = true
			accepted = append(accepted, c)
		}
		require.Equal(t, map[int]bool{49154: true, 49155: true, 49156: true}, seen)
		pl, err := a.Listen("tcp", ":0")
		require.NoError(t, err)
		require.Equal(t, 49157, pl.Addr().(*net.TCPAddr).Port)
		for _, c := range accepted {
			c.Close()
		}
		ln.Close()
		ln80.Close()
		pl.Close()
	})
}
