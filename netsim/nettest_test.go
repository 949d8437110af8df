package netsim_test

import (
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// TestNettestConn runs x/net/nettest's conformance suite on netsim conns,
// in real time (nettest cannot run inside a bubble), with faults that keep
// stream semantics.
func TestNettestConn(t *testing.T) {
	defer goleak.VerifyNone(t)
	cases := map[string]faultconn.Profile{
		"none":          {},
		"latencyJitter": {Latency: time.Millisecond, Jitter: 500 * time.Microsecond},
		"segment3":      {Segment: 3},
		"streamLoss2%":  {Loss: 0.02, Latency: 100 * time.Microsecond},
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			n, err := netsim.New(netsim.Config{Seed: 7, Default: p})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				ln, err := n.Host("server").Listen("tcp", ":0")
				if err != nil {
					return nil, nil, nil, err
				}
				defer ln.Close()
				accepted := make(chan net.Conn, 1)
				go func() {
					c, _ := ln.Accept()
					accepted <- c
				}()
				c1, err = n.Host("client").Dial("tcp", ln.Addr().String())
				if err != nil {
					return nil, nil, nil, err
				}
				c2 = <-accepted
				return c1, c2, func() { c1.Close(); c2.Close() }, nil
			})
		})
	}
}
