package netsim_test

// Tests of real, unmodified Go networking code (net/http, x/net/http2)
// over netsim, in synctest bubbles, asserting exact virtual instants.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	//lint:ignore SA1019 deprecated in favour of http.Protocols, tested as the real code still in use
	"golang.org/x/net/http2/h2c"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// countingListener counts the connections Accept returned.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// connStates records an http.Server's ConnState transitions.
type connStates struct {
	mu     sync.Mutex
	states []http.ConnState
}

func (s *connStates) hook(_ net.Conn, st http.ConnState) {
	s.mu.Lock()
	s.states = append(s.states, st)
	s.mu.Unlock()
}

func (s *connStates) get() []http.ConnState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.ConnState(nil), s.states...)
}

// serveHTTP starts srv on host:80 and returns the counting listener and a
// channel that receives Serve's result.
func serveHTTP(t *testing.T, n *netsim.Network, host string, srv *http.Server) (*countingListener, <-chan error) {
	t.Helper()
	ln, err := n.Host(host).Listen("tcp", ":80")
	require.NoError(t, err)
	cl := &countingListener{Listener: ln}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(cl) }()
	return cl, served
}

func getBody(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp, string(b)
}

// fetched is the outcome of one GET made on another goroutine (which must
// not call require).
type fetched struct {
	proto int
	body  string
	at    time.Duration // since start
	err   error
}

func fetch(c *http.Client, url string, start time.Time) fetched {
	resp, err := c.Get(url)
	if err != nil {
		return fetched{err: err}
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return fetched{proto: resp.ProtoMajor, body: string(b), at: time.Since(start), err: err}
}

// TestRealHTTPKeepAliveAndShutdown: a net/http client and server over a
// 50ms-each-way network. The first GET costs the dial's round trip plus
// the request's; the second reuses the kept-alive conn and costs one round
// trip; Shutdown closes the idle conn at once, and a later GET is refused
// after one round trip.
func TestRealHTTPKeepAliveAndShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 50 * time.Millisecond}})
		var states connStates
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "hello %s from %s", r.URL.Path, r.RemoteAddr)
			}),
			ConnState: states.hook,
		}
		ln, served := serveHTTP(t, n, "server", srv)
		tr := &http.Transport{DialContext: n.Host("client").DialContext}
		client := &http.Client{Transport: tr}
		start := time.Now()

		resp, body := getBody(t, client, "http://server/a")
		require.Equal(t, 200*time.Millisecond, time.Since(start), "dial RTT + request RTT")
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, 1, resp.ProtoMajor)
		require.Equal(t, "hello /a from 198.18.0.2:49152", body)
		require.EqualValues(t, 1, ln.accepted.Load())

		_, body = getBody(t, client, "http://server/b")
		require.Equal(t, 300*time.Millisecond, time.Since(start), "keep-alive: one RTT, no dial")
		require.Equal(t, "hello /b from 198.18.0.2:49152", body, "same client port: same conn")
		require.EqualValues(t, 1, ln.accepted.Load())
		require.Equal(t, []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateActive, http.StateIdle}, states.get())

		require.NoError(t, srv.Shutdown(context.Background()))
		require.Equal(t, 300*time.Millisecond, time.Since(start), "Shutdown with only idle conns returns at once")
		require.ErrorIs(t, <-served, http.ErrServerClosed)
		synctest.Wait() // the conn's goroutine reports StateClosed as it exits
		require.Equal(t, http.StateClosed, states.get()[len(states.get())-1])
		require.Len(t, states.get(), 6)

		// The server's FIN reaches the client at 350ms and the transport
		// drops the conn; a new GET dials and is refused one RTT later.
		time.Sleep(700 * time.Millisecond)
		_, err := client.Get("http://server/c")
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		require.Equal(t, 1100*time.Millisecond, time.Since(start))
		require.EqualValues(t, 1, ln.accepted.Load())

		tr.CloseIdleConnections()
		n.Close()
	})
}

// TestRealHTTPClientTimeout: Client.Timeout fires at exactly its instant
// against a handler that would take 5s, and the handler's request context
// is cancelled when the client's FIN reaches the server half an RTT later.
func TestRealHTTPClientTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 50 * time.Millisecond}})
		start := time.Now()
		cancelled := make(chan time.Duration, 1)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
				cancelled <- -1
			case <-r.Context().Done():
				cancelled <- time.Since(start)
			}
		})}
		_, served := serveHTTP(t, n, "server", srv)
		tr := &http.Transport{DialContext: n.Host("client").DialContext}
		client := &http.Client{Transport: tr, Timeout: time.Second}

		_, err := client.Get("http://server/slow")
		require.Error(t, err)
		require.Equal(t, time.Second, time.Since(start))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout(), "%v", err)
		require.Equal(t, 1050*time.Millisecond, <-cancelled, "handler's context ends when the client's FIN arrives")

		tr.CloseIdleConnections()
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-served, http.ErrServerClosed)
		n.Close()
	})
}

// TestRealHTTPShutdownWaitsForActive: Shutdown during a request lets the
// handler finish and the response arrive whole. net/http polls for idle
// conns at jittered intervals from a global random source, so only the
// response's instant is exact; Shutdown returns some poll after 450ms.
func TestRealHTTPShutdownWaitsForActive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 50 * time.Millisecond}})
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(300 * time.Millisecond)
			w.Write([]byte("done"))
		})}
		_, served := serveHTTP(t, n, "server", srv)
		tr := &http.Transport{DialContext: n.Host("client").DialContext}
		client := &http.Client{Transport: tr}
		start := time.Now()
		res := make(chan fetched, 1)
		go func() { res <- fetch(client, "http://server/", start) }()

		time.Sleep(200 * time.Millisecond) // the handler runs from 150ms to 450ms
		require.NoError(t, srv.Shutdown(context.Background()))
		require.GreaterOrEqual(t, time.Since(start), 450*time.Millisecond)
		require.ErrorIs(t, <-served, http.ErrServerClosed)
		r := <-res
		require.NoError(t, r.err)
		require.Equal(t, "done", r.body)
		require.Equal(t, 500*time.Millisecond, r.at)

		tr.CloseIdleConnections()
		n.Close()
	})
}

// TestRealHTTPDialTimeoutUnderPartition: Client.Timeout also bounds a dial
// whose SYNs go unanswered.
func TestRealHTTPDialTimeoutUnderPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 50 * time.Millisecond}})
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
		ln, served := serveHTTP(t, n, "server", srv)
		n.Host("client")
		n.Partition([]string{"client"}, []string{"server"})
		tr := &http.Transport{DialContext: n.Host("client").DialContext}
		client := &http.Client{Transport: tr, Timeout: time.Second}
		start := time.Now()

		_, err := client.Get("http://server/")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout())
		require.Equal(t, time.Second, time.Since(start))
		require.Zero(t, ln.accepted.Load())

		// Healed, the next GET dials and completes in two RTTs. The timed
		// out request's dial goes on in the background (net/http does not
		// cancel dials with their request): its SYN retransmission at 1s
		// gets through too, and the server accepts two conns.
		n.Heal()
		_, body := getBody(t, client, "http://server/")
		require.Empty(t, body)
		require.Equal(t, 1200*time.Millisecond, time.Since(start))
		require.EqualValues(t, 2, ln.accepted.Load())

		tr.CloseIdleConnections()
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-served, http.ErrServerClosed)
		n.Close()
	})
}

// TestRealHTTPLargeBody: a 1 MiB response through the default 256 KiB
// window arrives intact, the server's writes blocking on the window. With
// no Segment size each write is one segment (at most a window), so the
// body crosses in window-sized rounds of one latency each: the server's
// first flush (4 KiB of bufio: headers and the body's start) arrives at
// 200ms, then the rest of the body, 1 MiB - 4 KiB + headers, in four
// segments of at most 256 KiB, each sent when the client has read the one
// before, arriving at 250, 300, 350 and 400ms.
func TestRealHTTPLargeBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 50 * time.Millisecond}})
		body := make([]byte, 1<<20)
		for i := range body {
			body[i] = byte(i * 7 / 13)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.Write(body)
		})}
		_, served := serveHTTP(t, n, "server", srv)
		tr := &http.Transport{DialContext: n.Host("client").DialContext}
		client := &http.Client{Transport: tr}
		start := time.Now()

		resp, got := getBody(t, client, "http://server/big")
		require.Equal(t, int64(len(body)), resp.ContentLength)
		require.True(t, bytes.Equal(body, []byte(got)), "body intact")
		require.Equal(t, 400*time.Millisecond, time.Since(start))

		tr.CloseIdleConnections()
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-served, http.ErrServerClosed)
		n.Close()
	})
}

// TestRealHTTP2H2C: x/net's h2c handler and http2.Transport with
// prior knowledge: concurrent requests share one conn, and all complete
// one dial RTT plus one request RTT after they start.
func TestRealHTTP2H2C(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 50 * time.Millisecond}})
		var protos sync.Map
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			protos.Store(r.URL.Path, r.ProtoMajor)
			fmt.Fprintf(w, "h2 %s", r.URL.Path)
		})
		h2s := &http2.Server{}
		srv := &http.Server{Handler: h2c.NewHandler(handler, h2s)}
		// Without ConfigureServer, x/net's http2 server takes its write
		// result channels from a package-level sync.Pool, so a channel
		// made in one bubble is reused in another, and the runtime aborts
		// with "select on synctest channel from outside bubble".
		// ConfigureServer gives the server its own pool.
		require.NoError(t, http2.ConfigureServer(srv, h2s))
		ln, served := serveHTTP(t, n, "server", srv)
		host := n.Host("client")
		tr := &http2.Transport{
			AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				return host.DialContext(ctx, network, addr)
			},
		}
		client := &http.Client{Transport: tr}
		start := time.Now()

		const requests = 8
		results := make(chan fetched, requests)
		for i := range requests {
			go func() { results <- fetch(client, fmt.Sprintf("http://server/r%d", i), start) }()
		}
		bodies := map[string]bool{}
		for range requests {
			r := <-results
			require.NoError(t, r.err)
			require.Equal(t, 2, r.proto)
			require.Equal(t, 200*time.Millisecond, r.at)
			bodies[r.body] = true
		}
		require.Len(t, bodies, requests)
		require.EqualValues(t, 1, ln.accepted.Load(), "multiplexed on one conn")
		for i := range requests {
			p, ok := protos.Load(fmt.Sprintf("/r%d", i))
			require.True(t, ok)
			require.Equal(t, 2, p, "server saw HTTP/2")
		}

		// A later request reuses the conn: one RTT.
		resp, body := getBody(t, client, "http://server/again")
		require.Equal(t, 300*time.Millisecond, time.Since(start))
		require.Equal(t, 2, resp.ProtoMajor)
		require.Equal(t, "h2 /again", body)
		require.EqualValues(t, 1, ln.accepted.Load())

		tr.CloseIdleConnections()
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-served, http.ErrServerClosed)
		n.Close()
	})
}

// TestRealHTTP2Unencrypted: the same with net/http's own unencrypted
// HTTP/2 (http.Protocols), which replaced h2c. Unlike x/net's
// http2.Transport, net/http's Transport starts one dial per request while
// no conn exists yet (on real loopback too), so the conn is warmed up by
// one request before the concurrent ones.
func TestRealHTTP2Unencrypted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 50 * time.Millisecond}})
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "HTTP/%d %s", r.ProtoMajor, r.URL.Path)
		})}
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
		ln, served := serveHTTP(t, n, "server", srv)
		tr := &http.Transport{DialContext: n.Host("client").DialContext}
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
		client := &http.Client{Transport: tr}
		start := time.Now()

		resp, body := getBody(t, client, "http://server/warm")
		require.Equal(t, 2, resp.ProtoMajor)
		require.Equal(t, "HTTP/2 /warm", body)
		require.Equal(t, 200*time.Millisecond, time.Since(start))

		const requests = 4
		results := make([]fetched, requests)
		var wg sync.WaitGroup
		for i := range requests {
			wg.Go(func() { results[i] = fetch(client, fmt.Sprintf("http://server/r%d", i), start) })
		}
		wg.Wait()
		for i, r := range results {
			require.NoError(t, r.err)
			require.Equal(t, 2, r.proto)
			require.Equal(t, fmt.Sprintf("HTTP/2 /r%d", i), r.body)
			require.Equal(t, 300*time.Millisecond, r.at)
		}
		require.EqualValues(t, 1, ln.accepted.Load(), "multiplexed on one conn")

		tr.CloseIdleConnections()
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-served, http.ErrServerClosed)
		n.Close()
	})
}

// udpEcho serves an uppercasing echo on pc until it is closed.
func udpEcho(pc net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		nr, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(bytes.ToUpper(buf[:nr]), addr)
	}
}

// TestRealUDPRequestResponse: a datagram request/response protocol: the
// answer comes after one RTT; with total loss on the way there the
// client's read deadline fires at its instant.
func TestRealUDPRequestResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 20 * time.Millisecond}})
		spc, err := n.Host("server").ListenPacket("udp", ":53")
		require.NoError(t, err)
		go udpEcho(spc)
		cpc, err := n.Host("client").ListenPacket("udp", ":0")
		require.NoError(t, err)
		require.IsType(t, &net.UDPAddr{}, cpc.LocalAddr())
		saddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(n.Host("server").IP(), 53))
		require.Equal(t, saddr.String(), spc.LocalAddr().String())
		start := time.Now()

		require.NoError(t, cpc.SetReadDeadline(start.Add(time.Second)))
		_, err = cpc.WriteTo([]byte("query"), saddr)
		require.NoError(t, err)
		buf := make([]byte, 100)
		nr, from, err := cpc.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, 40*time.Millisecond, time.Since(start))
		require.Equal(t, "QUERY", string(buf[:nr]))
		require.Equal(t, saddr, from)

		// Total loss from client to server, on the existing flow: the
		// request never arrives and the deadline fires at its instant.
		require.NoError(t, n.SetLink("client", "server", faultconn.Profile{Loss: 1}))
		require.NoError(t, cpc.SetReadDeadline(start.Add(500*time.Millisecond)))
		_, err = cpc.WriteTo([]byte("lost"), saddr)
		require.NoError(t, err, "a lost datagram is not an error")
		_, _, err = cpc.ReadFrom(buf)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout())
		require.Equal(t, 500*time.Millisecond, time.Since(start))
		st := spc.(*netsim.PacketConn).Stats()
		require.EqualValues(t, 1, st.Received)
		require.EqualValues(t, 0, st.RecvDropped)

		// A socket opened after the change gets the lossy profile too.
		cpc2, err := n.Host("client").ListenPacket("udp", ":0")
		require.NoError(t, err)
		_, err = cpc2.WriteTo([]byte("lost too"), saddr)
		require.NoError(t, err)
		require.NoError(t, cpc2.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
		_, _, err = cpc2.ReadFrom(buf)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.Equal(t, 600*time.Millisecond, time.Since(start))

		cpc.Close()
		cpc2.Close()
		n.Close()
	})
}

// TestRealUDPLimits: datagrams over MaxDatagram fail with EMSGSIZE, and a
// full receive queue drops and counts what does not fit.
func TestRealUDPLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{
			Default:     faultconn.Profile{Latency: 20 * time.Millisecond},
			MaxDatagram: 512,
			RecvQueue:   600,
		})
		spc, err := n.Host("server").ListenPacket("udp", ":53")
		require.NoError(t, err)
		cpc, err := n.Host("client").ListenPacket("udp", ":0")
		require.NoError(t, err)
		saddr := spc.LocalAddr()
		start := time.Now()

		_, err = cpc.WriteTo(make([]byte, 513), saddr)
		require.ErrorIs(t, err, syscall.EMSGSIZE)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		require.Equal(t, "write", oe.Op)
		nw, err := cpc.WriteTo(make([]byte, 512), saddr)
		require.NoError(t, err)
		require.Equal(t, 512, nw)

		// As on Linux, the queue takes a datagram while it holds at most
		// RecvQueue bytes before it: the empty queue takes the 512-byte
		// datagram (768 bytes with the overhead), and then holds more than
		// 600, so the three 40-byte ones behind it are dropped.
		for i := range 3 {
			_, err := cpc.WriteTo(bytes.Repeat([]byte{byte('a' + i)}, 40), saddr)
			require.NoError(t, err)
		}
		stats := spc.(*netsim.PacketConn)
		time.Sleep(20*time.Millisecond - 1)
		synctest.Wait()
		st := stats.Stats()
		require.Zero(t, st.Received+st.RecvDropped, "nothing arrives before the latency")
		time.Sleep(1)
		synctest.Wait()
		st = stats.Stats()
		require.EqualValues(t, 1, st.Received)
		require.EqualValues(t, 3, st.RecvDropped)

		buf := make([]byte, 600)
		nr, from, err := spc.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, 512, nr)
		require.Equal(t, cpc.LocalAddr(), from)
		// Reading frees the queue: the next datagrams fit, while the queue
		// holds at most 600 bytes before each. (They arrive together with
		// no reader waiting: a reader taking one between two arrivals
		// would make room.)
		for i := range 4 {
			_, err := cpc.WriteTo(bytes.Repeat([]byte{byte('a' + i)}, 40), saddr)
			require.NoError(t, err)
		}
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		for _, want := range []string{"a", "b", "c"} {
			nr, from, err := spc.ReadFrom(buf)
			require.NoError(t, err)
			require.Equal(t, bytes.Repeat([]byte(want), 40), buf[:nr])
			require.Equal(t, cpc.LocalAddr(), from)
		}
		require.Equal(t, 40*time.Millisecond, time.Since(start))
		st = stats.Stats()
		require.EqualValues(t, 4, st.Received)
		require.EqualValues(t, 4, st.RecvDropped)

		cpc.Close()
		n.Close()
	})
}

// TestRealNameResolution: unknown names fail like the resolver's
// NXDOMAIN, a host with nothing listening refuses after one RTT, and
// LookupHost resolves host names the way net.Resolver does.
func TestRealNameResolution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newNet(t, netsim.Config{Default: faultconn.Profile{Latency: 50 * time.Millisecond}})
		client, server := n.Host("client"), n.Host("server")
		start := time.Now()

		_, err := client.Dial("tcp", "nosuchhost:80")
		var dnsErr *net.DNSError
		require.ErrorAs(t, err, &dnsErr)
		require.True(t, dnsErr.IsNotFound)
		require.Equal(t, "nosuchhost", dnsErr.Name)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		require.Equal(t, "dial", oe.Op)
		require.Zero(t, time.Since(start), "resolution takes no time")

		_, err = client.Dial("tcp", "server:80")
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		require.ErrorAs(t, err, &oe)
		require.Equal(t, "198.18.0.2:80", oe.Addr.String())
		require.Equal(t, 100*time.Millisecond, time.Since(start), "refused after one RTT")

		// By address, too.
		_, err = client.Dial("tcp", server.IP().String()+":80")
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		require.Equal(t, 200*time.Millisecond, time.Since(start))

		ctx := context.Background()
		addrs, err := client.LookupHost(ctx, "server")
		require.NoError(t, err)
		require.Equal(t, []string{server.IP().String()}, addrs)
		addrs, err = client.LookupHost(ctx, "SERVER")
		require.NoError(t, err)
		require.Equal(t, []string{"198.18.0.2"}, addrs, "names are case-insensitive")
		addrs, err = client.LookupHost(ctx, "localhost")
		require.NoError(t, err)
		require.Equal(t, []string{"127.0.0.1"}, addrs)
		addrs, err = client.LookupHost(ctx, "198.18.0.1")
		require.NoError(t, err)
		require.Equal(t, []string{"198.18.0.1"}, addrs)
		_, err = client.LookupHost(ctx, "nosuchhost")
		require.ErrorAs(t, err, &dnsErr)
		require.True(t, dnsErr.IsNotFound)

		// net/http sees the same errors through its dialer.
		hc := &http.Client{Transport: &http.Transport{DialContext: client.DialContext}}
		_, err = hc.Get("http://nosuchhost/")
		require.ErrorAs(t, err, &dnsErr)
		require.True(t, dnsErr.IsNotFound)
		_, err = hc.Get("http://server/")
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		require.Equal(t, 300*time.Millisecond, time.Since(start))

		require.False(t, errors.Is(err, faultconn.ErrInjected), "a refusal is not an injected fault")
		n.Close()
	})
}

// TestRealHTTPDeterministicUnderLoss: net/http over a lossy, jittery link
// in Stream mode sees only delays (retransmissions), never corrupt
// bodies, and the same seed gives the same instants in every run.
func TestRealHTTPDeterministicUnderLoss(t *testing.T) {
	run := func(seed uint64) []time.Duration {
		var at []time.Duration
		synctest.Test(t, func(t *testing.T) {
			n := newNet(t, netsim.Config{Seed: seed, Default: faultconn.Profile{
				Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.2,
			}})
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write(bytes.Repeat([]byte(r.URL.Path), 1000))
			})}
			_, served := serveHTTP(t, n, "server", srv)
			tr := &http.Transport{DialContext: n.Host("client").DialContext}
			client := &http.Client{Transport: tr}
			start := time.Now()
			for i := range 10 {
				path := fmt.Sprintf("/%d", i)
				_, body := getBody(t, client, "http://server"+path)
				require.Equal(t, strings.Repeat(path, 1000), body)
				at = append(at, time.Since(start))
			}
			tr.CloseIdleConnections()
			require.NoError(t, srv.Close())
			require.ErrorIs(t, <-served, http.ErrServerClosed)
			n.Close()
		})
		return at
	}
	first := run(42)
	require.Equal(t, first, run(42), "same seed, same instants")
	require.NotEqual(t, first, run(43), "another seed, other instants")
	t.Logf("seed 42: %v", first)
}
