package netsim_test

// Tests of the limits of packet conns: what a full flow or receive queue
// drops and where it is counted, how many flows a socket keeps, and what
// netsim.Stats and Dump say about UDP.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// udpPair opens a client socket and a server socket on ":53".
func udpPair(t *testing.T, n *netsim.Network) (client, server *netsim.PacketConn) {
	t.Helper()
	server, err := n.Host("server").ListenUDP("udp", ":53")
	require.NoError(t, err)
	client, err = n.Host("client").ListenUDP("udp", ":0")
	require.NoError(t, err)
	return client, server
}

// TestUDPMaxDatagramUnderSmallWindow: a stream window smaller than a
// datagram does not make datagrams undeliverable: a flow always holds one
// datagram of MaxDatagram.
func TestUDPMaxDatagramUnderSmallWindow(t *testing.T) {
	for _, window := range []int{1, 255, 64 << 10} {
		t.Run(fmt.Sprint(window), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNet(t, netsim.Config{Window: window, Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
				c, s := udpPair(t, n)
				start := time.Now()
				for _, size := range []int{netsim.DefaultMaxDatagram, 0} {
					_, err := c.WriteTo(make([]byte, size), s.LocalAddr())
					require.NoError(t, err)
					buf := make([]byte, netsim.DefaultMaxDatagram+1)
					nr, _, err := s.ReadFrom(buf)
					require.NoError(t, err)
					require.Equal(t, size, nr)
				}
				require.Equal(t, 20*time.Millisecond, time.Since(start))
				require.Equal(t, netsim.PacketStats{
					Out:   faultconn.DirStats{Segments: 2, Bytes: netsim.DefaultMaxDatagram, Delivered: 2},
					Flows: 1,
				}, c.Stats())
				require.Equal(t, netsim.PacketStats{Received: 2}, s.Stats())
			})
		})
	}
}

// TestUDPFlowFullDropsAndCounts: a datagram beyond a flow's in-flight
// limit is dropped at send, without an error, and counted in the
// socket's, the network's and the dump's stats.
func TestUDPFlowFullDropsAndCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The flow holds max(Window, MaxDatagram+256) = 1256 bytes.
		n := newNet(t, netsim.Config{Window: 100, MaxDatagram: 1000, Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		c, s := udpPair(t, n)
		for _, size := range []int{1000, 0, 1} {
			nw, err := c.WriteTo(make([]byte, size), s.LocalAddr())
			require.NoError(t, err, "a dropped datagram is not an error")
			require.Equal(t, size, nw)
		}
		want := faultconn.DirStats{Segments: 1, Bytes: 1000, Dropped: 2}
		require.Equal(t, want, c.Stats().Out)

		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		want.Delivered = 1
		require.Equal(t, want, c.Stats().Out)
		// The flow is empty again: the next datagram flies.
		_, err := c.WriteTo([]byte("x"), s.LocalAddr())
		require.NoError(t, err)
		want.Segments, want.Bytes = 2, 1001

		st := n.Stats()
		require.Equal(t, want, st.Total)
		require.Equal(t, map[string]netsim.PacketStats{
			"client:49152": {Out: want, Flows: 1},
			"server:53":    {Received: 1},
		}, st.Packets)
		require.Equal(t, netsim.PacketStats{Out: want, Received: 1, Flows: 1}, st.PacketTotal)
		require.Contains(t, n.Dump(), "udp client:49152 198.18.0.2:49152 open, 1 flows; out: 2 sent, 1 delivered, 0 lost, 2 dropped, 0 unreachable; in: 0 received, 0 dropped, 0 queued (0B)\n")
		require.Contains(t, n.Dump(), "udp server:53 198.18.0.1:53 open, 0 flows; out: 0 sent, 0 delivered, 0 lost, 0 dropped, 0 unreachable; in: 1 received, 0 dropped, 1 queued (1256B)\n")
	})
}

// TestUDPRecvQueueLinuxRule: the receive queue takes a datagram while it
// holds at most RecvQueue bytes, as Linux does, so even a queue smaller
// than one datagram takes one at a time; what it drops is counted.
func TestUDPRecvQueueLinuxRule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{RecvQueue: 1, Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		c, s := udpPair(t, n)
		start := time.Now()
		for i := range 3 {
			_, err := c.WriteTo(make([]byte, netsim.DefaultMaxDatagram-i), s.LocalAddr())
			require.NoError(t, err)
		}
		time.Sleep(10*time.Millisecond - 1)
		synctest.Wait()
		require.Equal(t, netsim.PacketStats{}, s.Stats(), "nothing arrives before the latency")
		time.Sleep(1)
		synctest.Wait()
		require.Equal(t, netsim.PacketStats{Received: 1, RecvDropped: 2}, s.Stats())

		buf := make([]byte, 1<<16)
		nr, _, err := s.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, netsim.DefaultMaxDatagram, nr, "the first one was queued")
		_, err = c.WriteTo([]byte("next"), s.LocalAddr())
		require.NoError(t, err)
		nr, _, err = s.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, "next", string(buf[:nr]))
		require.Equal(t, 20*time.Millisecond, time.Since(start))
		require.Equal(t, netsim.PacketStats{Received: 2, RecvDropped: 2}, s.Stats())
		require.EqualValues(t, 2, n.Stats().PacketTotal.RecvDropped)
	})
}

// TestUDPUnreachableCounted: a datagram to an address no host has, or to
// a port with no socket, is lost without an error and counted.
func TestUDPUnreachableCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		c, s := udpPair(t, n)
		_, err := c.WriteTo([]byte("nobody"), &net.UDPAddr{IP: net.IPv4(10, 9, 9, 9), Port: 53})
		require.NoError(t, err)
		_, err = c.WriteTo([]byte("no socket"), &net.UDPAddr{IP: s.LocalAddr().(*net.UDPAddr).IP, Port: 54})
		require.NoError(t, err)
		require.EqualValues(t, 1, c.Stats().Unreachable, "the second is on its way")
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		st := c.Stats()
		require.EqualValues(t, 2, st.Unreachable)
		require.EqualValues(t, 1, st.Out.Delivered, "it reached the host")
	})
}

// TestUDPStatsSurviveClose: a closed socket's datagrams stay in the
// network's totals; its own Stats keep what it had.
func TestUDPStatsSurviveClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		c, s := udpPair(t, n)
		for range 3 {
			_, err := c.WriteTo([]byte("gossip"), s.LocalAddr())
			require.NoError(t, err)
		}
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		_, err := c.WriteTo([]byte("in flight"), s.LocalAddr())
		require.NoError(t, err)
		require.NoError(t, c.Close())
		require.NoError(t, s.Close())
		out := faultconn.DirStats{Segments: 4, Bytes: 27, Delivered: 3}
		require.Equal(t, out, c.Stats().Out)
		require.Equal(t, netsim.PacketStats{Received: 3}, s.Stats())
		st := n.Stats()
		require.Empty(t, st.Packets)
		require.Equal(t, out, st.Total)
		require.Equal(t, netsim.PacketStats{Out: out, Received: 3}, st.PacketTotal)
		time.Sleep(time.Second)
		require.Equal(t, st, n.Stats(), "the datagram in flight died with its socket")
	})
}

// TestUDPFlowsBounded: a socket that writes to many destinations keeps at
// most MaxFlows flows once they are idle, however many destinations it
// wrote to; flows with datagrams in flight are kept until they land.
func TestUDPFlowsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		c, s := udpPair(t, n)
		ip := s.LocalAddr().(*net.UDPAddr).IP
		const dests = netsim.MaxFlows + 500
		for port := 1; port <= dests; port++ {
			_, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: ip, Port: port})
			require.NoError(t, err)
		}
		require.Equal(t, dests, c.Stats().Flows, "all in flight: none is freed")
		time.Sleep(10 * time.Millisecond)
		_, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: ip, Port: dests + 1})
		require.NoError(t, err)
		st := c.Stats()
		require.Equal(t, netsim.MaxFlows, st.Flows)
		require.Equal(t, faultconn.DirStats{Segments: dests + 1, Bytes: dests + 1, Delivered: dests}, st.Out,
			"freed flows stay counted")
		require.EqualValues(t, dests-1, st.Unreachable, "only port 53 has a socket")
		require.Equal(t, netsim.PacketStats{Received: 1}, s.Stats())
	})
}

// TestUDPFlowMemoryBounded: 60000 destinations do not cost 60000 flows of
// memory (before MaxFlows, 60000 destinations kept 87 MiB).
func TestUDPFlowMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes to 60000 destinations")
	}
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{})
		c, s := udpPair(t, n)
		ip := s.LocalAddr().(*net.UDPAddr).IP
		write := func(from, to int) {
			for port := from; port < to; port++ {
				_, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: ip, Port: port})
				require.NoError(t, err)
			}
		}
		write(1, 2*netsim.MaxFlows) // the socket is at its cap
		var before, after runtime.MemStats
		synctest.Wait() // the flows' delivery timers have fired
		runtime.GC()
		runtime.ReadMemStats(&before)
		write(2*netsim.MaxFlows, 62000)
		synctest.Wait()
		runtime.GC()
		runtime.ReadMemStats(&after)
		require.Equal(t, netsim.MaxFlows, c.Stats().Flows)
		grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		// Kept flows would take about 1.4 KiB each, 80 MiB in all; what
		// grows here is pools and runtime noise (0.1 to 0.8 MiB measured).
		require.Less(t, grew, int64(8<<20), "heap grew by %d bytes over 58000 more destinations", grew)
	})
}

// fates writes count numbered datagrams from c to s under 50% loss and
// returns which arrived.
func fates(t *testing.T, c, s *netsim.PacketConn, count int) []bool {
	t.Helper()
	for i := range count {
		_, err := c.WriteTo(binary.BigEndian.AppendUint32(nil, uint32(i)), s.LocalAddr())
		require.NoError(t, err)
	}
	got := make([]bool, count)
	require.NoError(t, s.SetReadDeadline(time.Now().Add(time.Nanosecond)))
	buf := make([]byte, 8)
	for {
		nr, _, err := s.ReadFrom(buf)
		if err != nil {
			break
		}
		require.Equal(t, 4, nr)
		got[binary.BigEndian.Uint32(buf)] = true
	}
	require.NoError(t, s.SetReadDeadline(time.Time{}))
	return got
}

// TestUDPRecreatedFlowFreshStream: a destination whose flow was freed gets
// a fresh random stream when it comes back, not a replay of its first
// fates; and the same writes with the same seed give the same fates.
func TestUDPRecreatedFlowFreshStream(t *testing.T) {
	run := func(t *testing.T) (first, again []bool) {
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: 7, Default: faultconn.Profile{Loss: 0.5}})
			c, s := udpPair(t, n)
			first = fates(t, c, s, 64)
			ip := s.LocalAddr().(*net.UDPAddr).IP
			for port := 1000; port < 1000+netsim.MaxFlows; port++ {
				_, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: ip, Port: port})
				require.NoError(t, err)
			}
			require.Equal(t, netsim.MaxFlows, c.Stats().Flows, "the flow to :53 was freed")
			again = fates(t, c, s, 64)
		})
		return first, again
	}
	first, again := run(t)
	require.Contains(t, first, false)
	require.Contains(t, first, true)
	require.NotEqual(t, first, again, "the re-created flow replays its first fates")
	first2, again2 := run(t)
	require.Equal(t, first, first2)
	require.Equal(t, again, again2)
}

// TestUDPFewFlowsNeverFreed: below MaxFlows destinations, a flow keeps its
// stream however long it idles, so fates to one destination do not depend
// on the writes to others.
func TestUDPFewFlowsNeverFreed(t *testing.T) {
	run := func(t *testing.T, others int) (got []bool) {
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: 7, Default: faultconn.Profile{Loss: 0.5}})
			c, s := udpPair(t, n)
			ip := s.LocalAddr().(*net.UDPAddr).IP
			a := fates(t, c, s, 32)
			for port := 1000; port < 1000+others; port++ {
				_, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: ip, Port: port})
				require.NoError(t, err)
			}
			time.Sleep(time.Hour)
			got = append(a, fates(t, c, s, 32)...)
			require.Equal(t, others+1, c.Stats().Flows)
		})
		return got
	}
	require.Equal(t, run(t, 0), run(t, netsim.MaxFlows-1))
}

// TestUDPDumpListsSockets: Dump has one line per open packet conn.
func TestUDPDumpListsSockets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{})
		c, s := udpPair(t, n)
		_, err := c.WriteTo([]byte("hi"), s.LocalAddr())
		require.NoError(t, err)
		var lines []string
		for _, l := range strings.Split(n.Dump(), "\n") {
			if strings.HasPrefix(l, "udp ") {
				lines = append(lines, l)
			}
		}
		require.Equal(t, []string{
			"udp client:49152 198.18.0.2:49152 open, 1 flows; out: 1 sent, 1 delivered, 0 lost, 0 dropped, 0 unreachable; in: 0 received, 0 dropped, 0 queued (0B)",
			"udp server:53 198.18.0.1:53 open, 0 flows; out: 0 sent, 0 delivered, 0 lost, 0 dropped, 0 unreachable; in: 1 received, 0 dropped, 1 queued (258B)",
		}, lines)
	})
}

// TestUDPFlowsFreedPastBusyOnes: flows with datagrams in flight are
// passed over (at most 8 per new flow, each moved to the front), and the
// idle ones behind them are freed.
func TestUDPFlowsFreedPastBusyOnes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 10 * time.Millisecond}})
		require.NoError(t, n.SetLink("client", "far", faultconn.Profile{Latency: time.Hour}))
		c, s := udpPair(t, n)
		far := net.UDPAddrFromAddrPort(netip.AddrPortFrom(n.Host("far").IP(), 0))
		near := s.LocalAddr().(*net.UDPAddr)
		send := func(to *net.UDPAddr, port int) {
			_, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: to.IP, Port: port})
			require.NoError(t, err)
		}
		for port := 1; port <= 20; port++ {
			send(far, port) // busy for an hour, and the least recently used
		}
		for port := 1; port <= netsim.MaxFlows-20; port++ {
			send(near, port)
		}
		time.Sleep(10 * time.Millisecond)
		var flows []int
		for port := 5000; port < 5004; port++ {
			send(near, port)
			flows = append(flows, c.Stats().Flows)
		}
		m := netsim.MaxFlows
		require.Equal(t, []int{m + 1, m + 2, m, m}, flows)
	})
}
