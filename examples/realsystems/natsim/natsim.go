// Package natsim runs an in-process nats-server on a netsim host and dials
// it from nats.go over the simulated network.
//
// nats-server keeps its listener unexported, so it cannot serve on a
// netsim listener directly. Serve starts it with DontListen and bridges:
// every connection accepted on the host's netsim listener is joined to
// the server's InProcessConn (a net.Pipe) by two copying goroutines.
// Options gives nats.go the three settings it needs on netsim:
// SkipHostLookup (else it calls the real net.LookupHost, outside the
// bubble), a custom dialer over the host (with the connect timeout, which
// a CustomDialer must apply itself) and ReconnectJitter 0 (else the
// reconnect instants are drawn from the global random source).
package natsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/headwind-go/headwind/netsim"
)

// Server is a nats-server serving on a netsim host.
type Server struct {
	NATS *server.Server
	ln   net.Listener
	wg   sync.WaitGroup // the accept loop and the bridges
}

// Serve starts a nats-server and serves it on h at port. The server does
// no logging and handles no signals.
func Serve(h *netsim.Host, port int) (*Server, error) {
	ns, err := server.NewServer(&server.Options{
		ServerName: h.Name(),
		DontListen: true,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		return nil, err
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("natsim: nats-server not ready after 10s")
	}
	ln, err := h.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		ns.Shutdown()
		return nil, err
	}
	s := &Server{NATS: ns, ln: ln}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		p, err := s.NATS.InProcessConn()
		if err != nil {
			c.Close()
			continue
		}
		s.wg.Add(2)
		go s.pipe(p, c)
		go s.pipe(c, p)
	}
}

// pipe copies src to dst; when either side ends, both close, so the
// other direction's copy ends too.
func (s *Server) pipe(dst, src net.Conn) {
	defer s.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// Shutdown stops the server: the listener closes, the server shuts down
// (closing its ends of the bridges), and Shutdown waits for the bridges.
func (s *Server) Shutdown() {
	s.ln.Close()
	s.NATS.Shutdown()
	s.wg.Wait()
}

// Dialer dials over a netsim host, giving up after Timeout as
// net.Dialer's Timeout does (nats.go passes its connect timeout only to
// its own net.Dialer, not to a CustomDialer).
type Dialer struct {
	Host    *netsim.Host
	Timeout time.Duration
}

// Dial implements nats.CustomDialer.
func (d Dialer) Dial(network, address string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	defer cancel()
	return d.Host.DialContext(ctx, network, address)
}

// Options are the nats.go options for a client on h: a dialer over h with
// a 2s connect timeout (nats.go's default), no host lookup, and no
// reconnect jitter.
func Options(h *netsim.Host) []nats.Option {
	return []nats.Option{
		nats.SetCustomDialer(Dialer{Host: h, Timeout: nats.DefaultTimeout}),
		nats.SkipHostLookup(),
		nats.ReconnectJitter(0, 0),
	}
}
