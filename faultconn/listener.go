package faultconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/headwind-go/headwind/internal/link"
)

// WrapListener returns l with the faults of cfg on every accepted conn.
// Accepted conns are *Conn, named Name#1, Name#2, … in accept order (Name
// defaults to "listener"), so each gets its own random streams. It fails,
// naming the field, when cfg is invalid, and when l is nil.
func WrapListener(l net.Listener, cfg Config) (net.Listener, error) {
	if l == nil {
		return nil, errors.New("faultconn: WrapListener: nil net.Listener")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &listener{Listener: l, cfg: cfg, name: cfg.name("listener")}, nil
}

type listener struct {
	net.Listener
	cfg  Config
	name string
	n    atomic.Uint64
}

// Accept waits for the next conn and wraps it.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrap(c, l.cfg, l.name+"#"+strconv.FormatUint(l.n.Add(1), 10), nil), nil
}

// Dialer dials conns and wraps them with the faults of Config. Its
// DialContext fits http.Transport.DialContext, and
//
//	grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
//		return d.DialContext(ctx, "tcp", addr)
//	})
//
// plugs it into gRPC. Dialed conns are *Conn, named Name#1, Name#2, … in
// dial order (Name defaults to "dial"). A Dialer is safe for concurrent use;
// its fields must not change once it is in use.
type Dialer struct {
	// Config holds the faults of every dialed conn.
	Config Config
	// Base dials the underlying conn; nil means a zero net.Dialer's
	// DialContext. A Base that returns neither a conn nor an error makes
	// the dial fail with an error saying so.
	Base func(ctx context.Context, network, address string) (net.Conn, error)

	n     atomic.Uint64
	mu    sync.Mutex // guards gate and conns
	gate  *link.Gate // Partition and Heal; nil until first used
	conns []*Conn    // open conns, for Partition; closed ones are pruned at each dial
}

// Dial dials address and wraps the conn.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext dials address within ctx and wraps the conn; it is the method
// to hand to http.Transport.DialContext.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if err := d.Config.Validate(); err != nil {
		return nil, err
	}
	dial := d.Base
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	c, err := dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("faultconn: Dialer.Base returned a nil net.Conn and a nil error dialing %s %s", network, address)
	}
	fc := wrap(c, d.Config, d.Config.name("dial")+"#"+strconv.FormatUint(d.n.Add(1), 10), d.gateOnce())
	d.mu.Lock()
	d.conns = slices.DeleteFunc(d.conns, func(c *Conn) bool { return c.closed.Load() })
	d.conns = append(d.conns, fc)
	d.mu.Unlock()
	return fc, nil
}
