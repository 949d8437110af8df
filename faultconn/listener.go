package faultconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"

	"github.com/headwind-go/headwind/internal/link"
)

// WrapListener returns l with the faults of cfg on every accepted conn.
// Accepted conns are *Conn, named Name#1, Name#2, … in accept order (Name
// defaults to "listener"), so each gets its own random streams; conns
// accepted at the same instant are named and keyed by their first write
// (see Determinism in the package doc). It fails,
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
	ords link.Ordinals
}

// Accept waits for the next conn and wraps it.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrap(c, l.cfg, "", l.ords.Next(l.name, ordName(l.name)), nil), nil
}

// ordName names the conns of a Dialer or listener: Name#1, Name#2, ….
func ordName(base string) func(uint64) string {
	return func(ord uint64) string { return base + "#" + strconv.FormatUint(ord, 10) }
}

// Dialer dials conns and wraps them with the faults of Config. Its
// DialContext fits http.Transport.DialContext, and
//
//	grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
//		return d.DialContext(ctx, "tcp", addr)
//	})
//
// plugs it into gRPC. Dialed conns are *Conn, named Name#1, Name#2, … in
// the order their dials started (Name defaults to "dial"); conns dialed at
// the same instant, by goroutines in parallel, are named and keyed by
// their first write instead (see Determinism in the package doc), so
// their fates do not depend on which goroutine dialed first. A Dialer is
// safe for concurrent use;
// its fields must not change once it is in use.
type Dialer struct {
	// Config holds the faults of every dialed conn.
	Config Config
	// Base dials the underlying conn; nil means a zero net.Dialer's
	// DialContext. A Base that returns neither a conn nor an error makes
	// the dial fail with an error saying so.
	Base func(ctx context.Context, network, address string) (net.Conn, error)

	ords   link.Ordinals
	mu     sync.Mutex // guards gate, conns and closed
	gate   *link.Gate // Partition and Heal; nil until first used
	conns  []*Conn    // open conns, for Partition and Close; closed ones are pruned at each dial
	closed bool
}

// Close closes every conn the Dialer dialed that is still open and waits
// until each is Done: it delivered what Write accepted, or gave up (see
// Conn.Close). Later dials fail with net.ErrClosed. In a synctest bubble,
// call it before the bubble's function returns, so that no pump is left
// delivering when the clock stops.
func (d *Dialer) Close() error {
	d.mu.Lock()
	d.closed = true
	conns := d.conns
	d.conns = nil
	d.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	for _, c := range conns {
		<-c.Done()
	}
	return nil
}

// Dial dials address and wraps the conn.
func (d *Dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext dials address within ctx and wraps the conn; it is the method
// to hand to http.Transport.DialContext.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	dial := d.Base
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	fc, err := d.dialWith(ctx, network, address, dial)
	if err != nil {
		return nil, err
	}
	return fc, nil
}

// dialWith dials address with dial and wraps the conn.
func (d *Dialer) dialWith(ctx context.Context, network, address string, dial func(ctx context.Context, network, address string) (net.Conn, error)) (*Conn, error) {
	if err := d.Config.Validate(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.ErrClosed}
	}
	base := d.Config.name("dial")
	lazy := d.ords.Next(base, ordName(base))
	c, err := dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("faultconn: Dialer.Base returned a nil net.Conn and a nil error dialing %s %s", network, address)
	}
	fc := wrap(c, d.Config, "", lazy, d.gateOnce())
	d.mu.Lock()
	if d.closed { // Close ran while this dial was under way
		d.mu.Unlock()
		fc.Close()
		<-fc.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.ErrClosed}
	}
	d.conns = slices.DeleteFunc(d.conns, func(c *Conn) bool {
		select {
		case <-c.Done():
			return true
		default:
			return false
		}
	})
	d.conns = append(d.conns, fc)
	d.mu.Unlock()
	return fc, nil
}
