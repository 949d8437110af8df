package netsim_test

import (
	"io"
	"net"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// benchPair returns both ends of a zero-fault netsim connection.
func benchPair(b testing.TB, n *netsim.Network) (client, server net.Conn) {
	ln, err := n.Host("server").Listen("tcp", ":0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = n.Host("client").Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	return client, <-accepted
}

// pairs gives each benchmark its baseline: net.Pipe, and netsim with no
// faults, outside a bubble.
func pairs(b *testing.B) map[string]func() (net.Conn, net.Conn, func()) {
	return map[string]func() (net.Conn, net.Conn, func()){
		"net.Pipe": func() (net.Conn, net.Conn, func()) {
			c1, c2 := net.Pipe()
			return c1, c2, func() { c1.Close(); c2.Close() }
		},
		"netsim": func() (net.Conn, net.Conn, func()) {
			n, err := netsim.New(netsim.Config{})
			if err != nil {
				b.Fatal(err)
			}
			c1, c2 := benchPair(b, n)
			return c1, c2, func() { n.Close() }
		},
	}
}

func BenchmarkBulk(b *testing.B) {
	for _, name := range []string{"net.Pipe", "netsim"} {
		b.Run(name, func(b *testing.B) {
			c1, c2, stop := pairs(b)[name]()
			defer stop()
			chunk := make([]byte, 32<<10)
			done := make(chan int64)
			go func() {
				n, _ := io.Copy(io.Discard, c2)
				done <- n
			}()
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c1.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			c1.Close()
			if got := <-done; got != int64(b.N)*int64(len(chunk)) {
				b.Fatalf("read %d bytes, want %d", got, int64(b.N)*int64(len(chunk)))
			}
		})
	}
}

func BenchmarkRTT64(b *testing.B) {
	for _, name := range []string{"net.Pipe", "netsim"} {
		b.Run(name, func(b *testing.B) {
			c1, c2, stop := pairs(b)[name]()
			defer stop()
			go func() {
				buf := make([]byte, 64)
				for {
					if _, err := io.ReadFull(c2, buf); err != nil {
						return
					}
					if _, err := c2.Write(buf); err != nil {
						return
					}
				}
			}()
			msg := make([]byte, 64)
			buf := make([]byte, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c1.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c1, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestVirtualRoundTrips runs 10,000 sequential 64-byte round trips at 50ms
// one-way latency inside a bubble: exactly 1000s of virtual time. It logs
// the wall time it took and the virtual/wall ratio (a measurement, not an
// assertion; run with -v to see it).
func TestVirtualRoundTrips(t *testing.T) {
	const trips = 10000
	wallStart := time.Now()
	var virtual time.Duration
	synctest.Test(t, func(t *testing.T) {
		n, err := netsim.New(netsim.Config{Default: faultconn.Profile{Latency: 50 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		c1, c2 := benchPair(t, n)
		go func() {
			buf := make([]byte, 64)
			for {
				if _, err := io.ReadFull(c2, buf); err != nil {
					return
				}
				c2.Write(buf)
			}
		}()
		buf := make([]byte, 64)
		t0 := time.Now()
		for range trips {
			if _, err := c1.Write(buf); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c1, buf); err != nil {
				t.Fatal(err)
			}
		}
		virtual = time.Since(t0)
		n.Close()
	})
	wall := time.Since(wallStart)
	if virtual != trips*100*time.Millisecond {
		t.Fatalf("%d round trips took %v of virtual time, want exactly %v", trips, virtual, trips*100*time.Millisecond)
	}
	t.Logf("%d round trips: %v virtual in %v wall, %.0fx", trips, virtual, wall, virtual.Seconds()/wall.Seconds())
}

// BenchmarkIdleConns opens 10,000 idle connections (both ends) and reports
// the live heap and goroutines they add, per connection.
func BenchmarkIdleConns(b *testing.B) {
	const conns = 10000
	for range b.N {
		n, err := netsim.New(netsim.Config{})
		if err != nil {
			b.Fatal(err)
		}
		ln, err := n.Host("server").Listen("tcp", ":80")
		if err != nil {
			b.Fatal(err)
		}
		client := n.Host("client")
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		keep := make([]net.Conn, 0, 2*conns)
		for range conns {
			c, err := client.Dial("tcp", "server:80")
			if err != nil {
				b.Fatal(err)
			}
			s, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			keep = append(keep, c, s)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/conns, "heap-B/conn")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0), "extra-goroutines")
		runtime.KeepAlive(keep)
		n.Close()
	}
}
