package faultconn_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/headwind-go/headwind/faultconn"
)

// Each benchmark runs its baseline (raw loopback TCP) next to the wrapper, so
// one `go test -bench` run measures both:
//
//	go test -run='^$' -bench='Bulk|RTT64' -benchmem -count=5 ./faultconn/
//
// The targets: with no faults the wrapper keeps >= 0.8x the raw bulk
// throughput, <= 1.3x the raw 64-byte round trip, and 0 allocs/op. The
// faultconn-latency cases go through the engine and its pump goroutine, and
// are there for information.

// benchCase says how the two ends of a loopback TCP connection are wrapped.
type benchCase struct {
	name string
	wrap bool              // wrap both ends with faultconn
	out  faultconn.Profile // the client's Out profile (the server's is zero)
}

var benchCases = []benchCase{
	{name: "raw-tcp"},
	{name: "faultconn-zero", wrap: true},
	{name: "faultconn-latency", wrap: true, out: faultconn.Profile{Latency: 100 * time.Microsecond}},
}

// benchTCP returns both ends of a fresh loopback TCP connection, wrapped as bc
// says. Both ends are closed when tb ends.
func benchTCP(tb testing.TB, bc benchCase) (client, server net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(tb, err)
	server = <-accepted
	require.NotNil(tb, server, "accept failed")
	if bc.wrap {
		client, err = faultconn.Wrap(client, faultconn.Config{Name: "cli", Out: bc.out})
		require.NoError(tb, err)
		server, err = faultconn.Wrap(server, faultconn.Config{Name: "srv"})
		require.NoError(tb, err)
	}
	tb.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// BenchmarkBulk measures one-way throughput: the client writes 32 KiB chunks
// as fast as it can, the server reads and discards. The time includes
// draining what is still in flight after the last write.
func BenchmarkBulk(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) { benchBulk(b, bc) })
	}
}

func benchBulk(b *testing.B, bc benchCase) {
	const chunk = 32 << 10
	w, r := benchTCP(b, bc)
	received := make(chan int64, 1)
	go func() {
		buf := make([]byte, 64<<10)
		var total int64
		for {
			n, err := r.Read(buf)
			total += int64(n)
			if err != nil {
				received <- total
				return
			}
		}
	}()
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		b.Fatal(err)
	}
	total := <-received
	b.StopTimer()
	if want := int64(b.N) * chunk; total != want {
		b.Fatalf("server read %d bytes, want %d", total, want)
	}
}

// BenchmarkRTT64 measures a 64-byte ping-pong round trip per op: the client
// writes 64 bytes and reads them back from an echo goroutine on the server.
func BenchmarkRTT64(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) { benchRTT64(b, bc) })
	}
}

func benchRTT64(b *testing.B, bc benchCase) {
	c, s := benchTCP(b, bc)
	echoed := make(chan error, 1)
	go func() {
		var buf [64]byte
		for {
			if _, err := io.ReadFull(s, buf[:]); err != nil {
				echoed <- err
				return
			}
			if _, err := s.Write(buf[:]); err != nil {
				echoed <- err
				return
			}
		}
	}()
	var msg, resp [64]byte
	for i := range msg {
		msg[i] = byte(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(msg[:]); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, resp[:]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if resp != msg {
		b.Fatalf("echo returned %x, want %x", resp, msg)
	}
	c.Close()
	if err := <-echoed; err != io.EOF {
		b.Fatalf("echo ended with %v, want EOF", err)
	}
}

// TestZeroFaultPathDoesNotAllocate checks that with no faults Read and Write
// go straight to the wrapped conn without allocating. It runs in real time;
// it counts allocations, it does not time anything.
func TestZeroFaultPathDoesNotAllocate(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, s := benchTCP(t, benchCase{name: "faultconn-zero", wrap: true})
	defer s.Close()
	defer c.Close()
	msg, buf := make([]byte, 64), make([]byte, 64)
	var err error
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err = c.Write(msg); err != nil {
			return
		}
		if _, err = io.ReadFull(s, buf); err != nil {
			return
		}
		if _, err = s.Write(msg); err != nil {
			return
		}
		_, err = io.ReadFull(c, buf)
	})
	require.NoError(t, err)
	require.Zero(t, allocs, "allocs per 64-byte write+read in each direction")
}
