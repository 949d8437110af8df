package faultconn

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/headwind-go/headwind/internal/link"
)

// MaxDatagram is the largest datagram a PacketConn sends: the largest UDP
// payload over IPv4.
const MaxDatagram = 65507

// PacketConn is a net.PacketConn with datagram faults: loss, duplication,
// reordering, corruption, latency, jitter and bandwidth, drawn per datagram.
// Datagrams are never merged or split. Each direction holds at most Window
// bytes in flight plus unread; a datagram beyond that is dropped, as a full
// socket buffer drops it, and counted in Stats as Dropped.
//
// Errors are the wrapped socket's, as *net.OpError. WriteTo returns at
// once what the socket would reject without sending: a bad address (over
// a *net.UDPConn, exactly the error its own WriteTo gives), port 0
// (EINVAL), a datagram over MaxDatagram (EMSGSIZE), a closed socket
// (net.ErrClosed). The datagram itself goes to the wrapped socket later,
// when its delay has passed; if that send fails (a route the kernel
// refuses, say), the error is pending, like a socket's SO_ERROR: the next
// WriteTo returns it and does not send its datagram. A wrapped socket
// closed underneath fails every later call with net.ErrClosed.
//
// Two pump goroutines move datagrams between the engine and the wrapped
// conn; Close ends them. PacketConn is safe for concurrent use.
type PacketConn struct {
	raw     net.PacketConn
	name    string
	tx, rx  *link.Link
	wg      sync.WaitGroup
	once    sync.Once
	pending atomic.Pointer[error] // the first failed send not yet reported
	netOnce sync.Once
	netName string // see network
}

var _ net.PacketConn = (*PacketConn)(nil)

// WrapPacketConn returns pc with the faults of cfg. It fails, naming the
// field, when cfg is invalid; Reset is not a datagram fault, and Segment
// and Mode are ignored. The PacketConn owns pc: closing it closes pc.
func WrapPacketConn(pc net.PacketConn, cfg Config) (net.PacketConn, error) {
	if isNil(pc) {
		return nil, fmt.Errorf("faultconn: WrapPacketConn: the net.PacketConn is nil (%T)", pc)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := packetResets(cfg.Out, cfg.In); err != nil {
		return nil, err
	}
	name := cfg.name("packet")
	c := &PacketConn{raw: pc, name: name}
	txc := linkConfig(name, Out, cfg.Seed, Segments, cfg.Window, cfg.Trace)
	rxc := linkConfig(name, In, cfg.Seed, Segments, cfg.Window, cfg.Trace)
	txc.Packet, rxc.Packet = true, true
	c.tx = link.New(txc, toLink(cfg.Out))
	c.rx = link.New(rxc, toLink(cfg.In))
	c.wg.Add(2)
	go c.outPump()
	go c.inPump()
	return c, nil
}

// SetProfiles changes the faults of both directions; they apply from the
// next datagram.
func (c *PacketConn) SetProfiles(out, in Profile) error {
	if err := (Config{Out: out, In: in}).Validate(); err != nil {
		return err
	}
	if err := packetResets(out, in); err != nil {
		return err
	}
	c.tx.SetProfile(toLink(out))
	c.rx.SetProfile(toLink(in))
	return nil
}

// Stats returns what has happened to the datagrams so far.
func (c *PacketConn) Stats() Stats {
	return Stats{Out: DirStats(c.tx.Stats()), In: DirStats(c.rx.Stats())}
}

// ReadFrom reads one datagram that came through the In profile. A datagram
// longer than b is truncated. It blocks until a datagram, Close, or the
// read deadline.
func (c *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.rx.ReadFrom(b)
	return n, addr, opError("read", c.raw.LocalAddr(), nil, err)
}

// WriteTo queues one datagram to addr through the Out profile. It does not
// block. A datagram over MaxDatagram fails with EMSGSIZE; one that would
// take the Out window over its limit is dropped and counted (Stats). It
// fails at once with what the wrapped socket would reject without
// sending, and with the error of an earlier datagram's failed send (see
// PacketConn).
func (c *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if err := c.precheck(len(b), addr); err != nil {
		return 0, err
	}
	if p := c.pending.Swap(nil); p != nil {
		return 0, *p
	}
	n, err := c.tx.WriteTo(b, addr)
	return n, opError("write", c.raw.LocalAddr(), addr, err)
}

// precheck returns the error the wrapped socket gives a datagram of size
// bytes to addr without sending it, or nil.
func (c *PacketConn) precheck(size int, addr net.Addr) error {
	if uc, ok := c.raw.(*net.UDPConn); ok {
		// The checks UDPConn.WriteTo makes before any system call: the
		// address's type, a connected socket, a nil address. Where one
		// fails, the real call returns its exact error and sends nothing.
		a, ok := addr.(*net.UDPAddr)
		if !ok || a == nil || uc.RemoteAddr() != nil {
			_, err := uc.WriteTo(nil, addr)
			if err == nil { // not reached: each of these fails first
				err = opError("write", uc.LocalAddr(), addr, syscall.EINVAL)
			}
			return err
		}
		// And the address family: an IPv4 socket cannot send to IPv6.
		local, _ := uc.LocalAddr().(*net.UDPAddr)
		if local != nil && local.IP.To4() != nil && len(a.IP) > 0 && a.IP.To4() == nil {
			return &net.OpError{Op: "write", Net: c.network(), Source: local, Addr: addr, Err: &net.AddrError{Err: "non-IPv4 address", Addr: a.IP.String()}}
		}
	}
	if size > MaxDatagram {
		return &net.OpError{Op: "write", Net: c.network(), Source: c.raw.LocalAddr(), Addr: addr, Err: os.NewSyscallError("sendto", syscall.EMSGSIZE)}
	}
	if a, ok := addr.(*net.UDPAddr); ok && a != nil && a.Port == 0 {
		// Linux's udp_sendmsg refuses port 0 before sending.
		return &net.OpError{Op: "write", Net: c.network(), Source: c.raw.LocalAddr(), Addr: addr, Err: os.NewSyscallError("sendto", syscall.EINVAL)}
	}
	return nil
}

// network returns the network the wrapped socket names in its errors:
// "udp4" for a socket opened as "udp4", which its LocalAddr does not say.
func (c *PacketConn) network() string {
	c.netOnce.Do(func() {
		c.netName = c.raw.LocalAddr().Network()
		if uc, ok := c.raw.(*net.UDPConn); ok {
			// A WriteTo with an address of the wrong type fails before
			// any system call, naming the socket's network.
			var oe *net.OpError
			if _, err := uc.WriteTo(nil, (*net.IPAddr)(nil)); errors.As(err, &oe) {
				c.netName = oe.Net
			}
		}
	})
	return c.netName
}

// Close closes the conn and the wrapped conn, ends both pumps and waits for
// them; datagrams still in flight are lost. Every blocked call returns.
func (c *PacketConn) Close() error {
	err := opError("close", c.raw.LocalAddr(), nil, net.ErrClosed)
	c.once.Do(func() {
		c.tx.Shutdown(net.ErrClosed)
		c.rx.Shutdown(net.ErrClosed)
		err = c.raw.Close()
		c.wg.Wait()
	})
	return err
}

// LocalAddr returns the wrapped conn's local address.
func (c *PacketConn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// SetDeadline sets both deadlines, as net.PacketConn says.
func (c *PacketConn) SetDeadline(t time.Time) error {
	c.rx.SetReadDeadline(t)
	c.tx.SetWriteDeadline(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *PacketConn) SetReadDeadline(t time.Time) error { c.rx.SetReadDeadline(t); return nil }

// SetWriteDeadline sets the write deadline.
func (c *PacketConn) SetWriteDeadline(t time.Time) error { c.tx.SetWriteDeadline(t); return nil }

func (c *PacketConn) outPump() {
	defer c.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := c.tx.ReadFrom(buf)
		if err != nil {
			return
		}
		if _, err := c.raw.WriteTo(buf[:n], addr); err != nil {
			err = opError("write", c.raw.LocalAddr(), addr, err)
			if errors.Is(err, net.ErrClosed) {
				c.tx.AbortWriter(err) // closed underneath: every later write fails
				return
			}
			c.pending.CompareAndSwap(nil, &err)
		}
	}
}

// maxReadFailures is how many reads in a row may fail before the In pump
// gives up on the wrapped conn.
const maxReadFailures = 100

func (c *PacketConn) inPump() {
	defer c.wg.Done()
	buf := make([]byte, 64<<10)
	failures := 0
	for {
		n, addr, err := c.raw.ReadFrom(buf)
		if err != nil {
			// Transient errors (an ICMP error on a connected socket) are
			// skipped; a conn that keeps failing is given up on, so the
			// pump never spins.
			if failures++; errors.Is(err, net.ErrClosed) || failures > maxReadFailures {
				if errors.Is(err, net.ErrClosed) {
					// Closed underneath: writes fail too, before the
					// reader sees it.
					c.tx.AbortWriter(opError("write", c.raw.LocalAddr(), nil, net.ErrClosed))
				}
				c.rx.AbortReader(err)
				return
			}
			continue
		}
		failures = 0
		c.rx.WriteTo(buf[:n], addr)
	}
}

// isNil reports whether v is nil or a nil pointer (a nil *net.UDPConn in a
// net.PacketConn is not == nil).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// packetResets reports a Reset set on a packet conn's profiles.
func packetResets(out, in Profile) error {
	var errs []error
	if out.Reset != 0 {
		errs = append(errs, fmt.Errorf("faultconn: Out.Reset %g out of range [0,0]: packet conns have no connection to reset", out.Reset))
	}
	if in.Reset != 0 {
		errs = append(errs, fmt.Errorf("faultconn: In.Reset %g out of range [0,0]: packet conns have no connection to reset", in.Reset))
	}
	return errors.Join(errs...)
}
