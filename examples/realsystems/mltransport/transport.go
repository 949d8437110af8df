// Package mltransport is a hashicorp/memberlist Transport over a netsim
// host: gossip and probes as UDP datagrams on a netsim packet socket,
// push-pull and fallback probes as streams on a netsim listener, both on
// one port. It is small on purpose: copy it, or import it.
//
//	t, _ := mltransport.New(n.Host("node1"), 7946)
//	cfg := memberlist.DefaultLocalConfig()
//	cfg.Name, cfg.Transport = "node1", t
//	cfg.LogOutput = io.Discard
//	ml, _ := memberlist.Create(cfg)
//
// Shutdown closes the socket and the listener and waits for the
// transport's two goroutines; memberlist.Shutdown calls it.
package mltransport

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/headwind-go/headwind/netsim"
)

// Transport implements memberlist.Transport over one netsim host and port.
type Transport struct {
	host    *netsim.Host
	port    int
	pc      net.PacketConn
	ln      net.Listener
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

var _ memberlist.Transport = (*Transport)(nil)

// New binds UDP and TCP port on h.
func New(h *netsim.Host, port int) (*Transport, error) {
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("mltransport: port %d out of range [1,65535]", port)
	}
	addr := fmt.Sprintf(":%d", port)
	pc, err := h.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	ln, err := h.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return nil, err
	}
	t := &Transport{
		host: h, port: port, pc: pc, ln: ln,
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn),
		done: make(chan struct{}),
	}
	t.wg.Add(2)
	go t.readPackets()
	go t.accept()
	return t, nil
}

func (t *Transport) readPackets() {
	defer t.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := t.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		p := &memberlist.Packet{Buf: append([]byte(nil), buf[:n]...), From: from, Timestamp: time.Now()}
		select {
		case t.packets <- p:
		case <-t.done:
			return
		}
	}
}

func (t *Transport) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		select {
		case t.streams <- c:
		case <-t.done:
			c.Close()
			return
		}
	}
}

// FinalAdvertiseAddr returns the host's address and the transport's port,
// unless memberlist's config names others.
func (t *Transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, 0, fmt.Errorf("mltransport: advertise address %q: %w", ip, err)
		}
		return net.IP(a.AsSlice()), port, nil
	}
	return net.IP(t.host.IP().AsSlice()), t.port, nil
}

// WriteTo sends b as one datagram to addr ("ip:port").
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return time.Time{}, fmt.Errorf("mltransport: address %q: %w", addr, err)
	}
	_, err = t.pc.WriteTo(b, net.UDPAddrFromAddrPort(ap))
	return time.Now(), err
}

// PacketCh delivers the datagrams received.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// DialTimeout dials addr over the host, giving up after timeout.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return t.host.DialContext(ctx, "tcp", addr)
}

// StreamCh delivers the connections accepted.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown closes the socket and the listener and waits for the
// transport's goroutines to end.
func (t *Transport) Shutdown() error {
	t.once.Do(func() {
		close(t.done)
		t.pc.Close()
		t.ln.Close()
	})
	t.wg.Wait()
	return nil
}
