// Package raftsuite runs hashicorp/raft over netsim: raft's own
// NetworkTransport over a StreamLayer of netsim streams, with in-memory
// log, stable and snapshot stores. It is a module of its own because
// raft v1.7.2 imports go-metrics/compat, which memberlist v0.7.0's newer
// go-metrics no longer has: the two cannot share a module graph.
package raftsuite

import (
	"context"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"github.com/headwind-go/headwind/netsim"
)

// StreamLayer is a raft.StreamLayer on a netsim host: it listens on the
// host and dials from it.
type StreamLayer struct {
	net.Listener
	Host *netsim.Host
}

// Listen returns a StreamLayer listening on h at address (":port").
func Listen(h *netsim.Host, address string) (*StreamLayer, error) {
	ln, err := h.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	return &StreamLayer{Listener: ln, Host: h}, nil
}

// Dial dials address from the host, giving up after timeout.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.Host.DialContext(ctx, "tcp", string(address))
}
