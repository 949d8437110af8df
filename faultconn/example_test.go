package faultconn_test

import (
	"fmt"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/headwind-go/headwind/faultconn"
)

func ExampleParseProfile() {
	p, err := faultconn.ParseProfile("latency=50ms jitter=10ms distribution=normal loss=1% bandwidth=1MiB/s")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Latency, p.Jitter, p.Distribution, p.Loss, p.Bandwidth)
	fmt.Println(p)
	_, err = faultconn.ParseProfile("loss=150%")
	fmt.Println(err)
	// Output:
	// 50ms 10ms normal 0.01 1048576
	// latency=50ms jitter=10ms distribution=normal bandwidth=1MiB/s loss=1%
	// faultconn: profile "loss=150%": loss: 150% out of range [0%,100%]
}

func ExampleProfile_Validate() {
	err := faultconn.Profile{Loss: 1.5, Latency: -time.Second}.Validate()
	fmt.Println(err)
	// Output:
	// faultconn: Latency -1s out of range [0,24h0m0s]
	// faultconn: Loss 1.5 out of range [0,1]
}

// TestDocWrapListener is the package documentation's snippet: a server
// whose responses cross a slow, lossy link. Keep in sync with package
// documentation (doc.go).
func TestDocWrapListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Inside a bubble a real socket does not block durably; wrap the
		// ends of a net.Pipe instead (the doc uses a TCP listener).
		a, b := net.Pipe()
		srv, err := faultconn.Wrap(a, faultconn.Config{
			Seed: 42,
			Out:  faultconn.Profile{Latency: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.01},
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		go func() {
			io.WriteString(srv, "response")
			srv.Close()
		}()
		got, err := io.ReadAll(b)
		if err != nil || string(got) != "response" {
			t.Fatalf("read %q, %v", got, err)
		}
		if d := time.Since(start); d < 40*time.Millisecond || d > 60*time.Millisecond {
			t.Fatalf("the response took %v, want 50ms ± 10ms of jitter", d)
		}
	})
}
