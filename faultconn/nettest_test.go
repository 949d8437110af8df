package faultconn_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"github.com/headwind-go/headwind/faultconn"
)

// tcpPair returns both ends of a loopback TCP connection, each wrapped with
// cfg (the server end named "srv", the client end "cli").
func tcpPair(t testing.TB, cfg faultconn.Config) (client, server net.Conn, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, nil, err
	}
	rawSrv := <-accepted
	ccfg, scfg := cfg, cfg
	ccfg.Name, scfg.Name = "cli", "srv"
	c, err := faultconn.Wrap(raw, ccfg)
	require.NoError(t, err)
	s, err := faultconn.Wrap(rawSrv, scfg)
	require.NoError(t, err)
	return c, s, func() { c.Close(); s.Close(); <-c.Done(); <-s.Done() }, nil
}

func TestNettestConn(t *testing.T) {
	defer goleak.VerifyNone(t)
	cases := map[string]faultconn.Profile{
		"none":          {},
		"latencyJitter": {Latency: time.Millisecond, Jitter: 500 * time.Microsecond},
		"segment7":      {Segment: 7},
		"streamLoss2%":  {Loss: 0.02, Latency: 100 * time.Microsecond},
		"bandwidth":     {Bandwidth: 64 << 20, Segment: 1460},
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				return tcpPair(t, faultconn.Config{Seed: 1, Out: p})
			})
		})
		// The same faults on both directions of both ends: the In pumps
		// too (Close once hung here, waiting for an In pump blocked on a
		// closed reader's full window).
		t.Run(name+"/inOut", func(t *testing.T) {
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				return tcpPair(t, faultconn.Config{Seed: 1, Out: p, In: p})
			})
		})
	}
}
