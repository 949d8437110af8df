package faultconn_test

// Tests of the errors of wrapped packet conns, against a real socket's.

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
)

func TestWrapPacketConnNil(t *testing.T) {
	for _, pc := range []net.PacketConn{nil, (*net.UDPConn)(nil)} {
		w, err := faultconn.WrapPacketConn(pc, faultconn.Config{})
		require.Nil(t, w)
		require.ErrorContains(t, err, "faultconn: WrapPacketConn: the net.PacketConn is nil")
	}
}

// listenUDP opens a real socket on loopback.
func listenUDP(t *testing.T, network string) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket(network, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	return pc
}

// TestPacketWriteToErrorsAsRawSocket: what a real socket rejects without
// sending, the wrapped one rejects at once with the same error.
func TestPacketWriteToErrorsAsRawSocket(t *testing.T) {
	for _, network := range []string{"udp", "udp4"} {
		t.Run(network, func(t *testing.T) {
			raw := listenUDP(t, network)
			w, err := faultconn.WrapPacketConn(listenUDP(t, network), faultconn.Config{Out: faultconn.Profile{Loss: 0.5}})
			require.NoError(t, err)
			defer w.Close()
			peer := listenUDP(t, network).LocalAddr().(*net.UDPAddr)
			for _, tc := range []struct {
				name string
				size int
				addr net.Addr
				is   error
			}{
				{"nil address", 1, nil, syscall.EINVAL},
				{"TCP address", 1, &net.TCPAddr{IP: peer.IP, Port: peer.Port}, syscall.EINVAL},
				{"nil *UDPAddr", 1, (*net.UDPAddr)(nil), nil},
				{"IPv6 address", 1, &net.UDPAddr{IP: net.IPv6loopback, Port: 9}, nil},
				{"port 0", 1, &net.UDPAddr{IP: peer.IP}, syscall.EINVAL},
				{"too large", faultconn.MaxDatagram + 1, peer, syscall.EMSGSIZE},
			} {
				_, want := raw.WriteTo(make([]byte, tc.size), tc.addr)
				require.Error(t, want, tc.name)
				_, got := w.WriteTo(make([]byte, tc.size), tc.addr)
				var oe *net.OpError
				require.ErrorAs(t, got, &oe, tc.name)
				require.Equal(t,
					strings.ReplaceAll(want.Error(), raw.LocalAddr().String(), w.LocalAddr().String()),
					got.Error(), tc.name)
				if tc.is != nil {
					require.ErrorIs(t, got, tc.is, tc.name)
				}
			}
			require.Zero(t, w.(interface{ Stats() faultconn.Stats }).Stats().Out.Segments, "nothing was sent")
		})
	}
}

// TestPacketWriteToPendingError: a send the kernel refuses once the
// datagram's delay has passed is reported by the next WriteTo, once, and
// that call's datagram is not sent.
func TestPacketWriteToPendingError(t *testing.T) {
	raw := listenUDP(t, "udp4")
	refused := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9} // TEST-NET-1, off loopback
	_, want := raw.WriteTo([]byte("x"), refused)
	if want == nil {
		t.Skip("this kernel sends from 127.0.0.1 to 192.0.2.1; nothing to refuse")
	}
	peer := listenUDP(t, "udp4")
	w, err := faultconn.WrapPacketConn(listenUDP(t, "udp4"), faultconn.Config{})
	require.NoError(t, err)
	defer w.Close()

	_, err = w.WriteTo([]byte("refused"), refused)
	require.NoError(t, err, "queued: the send happens later")
	// The next write reports the failed send if the pump has already
	// tried it; otherwise the one after the marker arrives does.
	buf := make([]byte, 16)
	read := func() string {
		n, _, err := peer.ReadFrom(buf)
		require.NoError(t, err)
		return string(buf[:n])
	}
	checkPending := func(err error) {
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		require.Equal(t, "write", oe.Op)
		require.Equal(t, refused.String(), oe.Addr.String())
		require.True(t, errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENETUNREACH), "%v", err)
	}
	_, err = w.WriteTo([]byte("marker"), peer.LocalAddr())
	if err == nil {
		require.Equal(t, "marker", read()) // the refused send came first
		_, err = w.WriteTo([]byte("not sent"), peer.LocalAddr())
	}
	checkPending(err)
	_, err = w.WriteTo([]byte("after"), peer.LocalAddr())
	require.NoError(t, err, "reported once")
	require.Equal(t, "after", read(), "the datagram of the failing call was not sent")
}

// TestPacketClosedUnderneath: a wrapped socket closed behind the wrapper's
// back fails reads and then writes with net.ErrClosed, as the socket
// itself would.
func TestPacketClosedUnderneath(t *testing.T) {
	raw, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	w, err := faultconn.WrapPacketConn(raw, faultconn.Config{})
	require.NoError(t, err)
	require.NoError(t, raw.Close())
	_, _, err = w.ReadFrom(make([]byte, 8))
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = w.WriteTo([]byte("x"), raw.LocalAddr())
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	require.ErrorIs(t, err, net.ErrClosed)
	w.Close()
	_, err = w.WriteTo([]byte("x"), raw.LocalAddr())
	require.ErrorIs(t, err, net.ErrClosed)
}
