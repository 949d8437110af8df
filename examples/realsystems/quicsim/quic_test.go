package quicsim_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// The synctest bubble's clock starts at 2000-01-01 00:00 UTC: a
// certificate checked in the bubble must be valid then.
var (
	notBefore = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// selfSigned makes a self-signed ECDSA certificate for name, valid from
// from until until, and a pool that trusts it.
func selfSigned(t *testing.T, name string, from, until time.Time) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             from,
		NotAfter:              until,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

const alpn = "echo"

// serveEcho serves QUIC on host:4433: on every stream of every
// connection it reads 5-byte requests and answers each with "re: " and
// the request, after 1ms of work. The work is what keeps the instants
// exact: quic-go handles a connection in a goroutine of its own, so an
// answer written at the instant the request arrives races (in real time)
// with that goroutine deciding to send an ACK alone, and the number of
// datagrams, hence which ones the loss draws hit, would change from run
// to run.
func serveEcho(t *testing.T, n *netsim.Network, host string, cert tls.Certificate) (stop func()) {
	t.Helper()
	pc, err := n.Host(host).ListenPacket("udp", ":4433")
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	ln, err := tr.Listen(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{alpn}}, &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			go func() {
				for {
					s, err := c.AcceptStream(context.Background())
					if err != nil {
						return
					}
					go echo(s)
				}
			}()
		}
	}()
	return func() {
		ln.Close()
		tr.Close()
		pc.Close() // a Transport does not close a conn it was given
	}
}

func echo(s *quic.Stream) {
	buf := make([]byte, 5)
	for {
		if _, err := io.ReadFull(s, buf); err != nil {
			return
		}
		time.Sleep(time.Millisecond)
		if _, err := s.Write(append([]byte("re: "), buf...)); err != nil {
			return
		}
	}
}

// maxWrite is a PacketConn that keeps the size of the largest datagram
// written through it.
type maxWrite struct {
	net.PacketConn
	max atomic.Int64
}

func (m *maxWrite) WriteTo(b []byte, addr net.Addr) (int, error) {
	if int64(len(b)) > m.max.Load() {
		m.max.Store(int64(len(b)))
	}
	return m.PacketConn.WriteTo(b, addr)
}

// client is a QUIC transport on a UDP socket of a host.
type client struct {
	pc *maxWrite
	tr *quic.Transport
}

func newClient(t *testing.T, n *netsim.Network, host string) *client {
	t.Helper()
	pc, err := n.Host(host).ListenPacket("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	c := &client{pc: &maxWrite{PacketConn: pc}}
	c.tr = &quic.Transport{Conn: c.pc}
	return c
}

func (c *client) close() { c.tr.Close(); c.pc.Close() }

func (c *client) dial(ctx context.Context, n *netsim.Network, roots *x509.CertPool) (*quic.Conn, time.Duration, error) {
	server := &net.UDPAddr{IP: n.Host("server").IP().AsSlice(), Port: 4433}
	start := time.Now()
	conn, err := c.tr.Dial(ctx, server, &tls.Config{RootCAs: roots, ServerName: "server", NextProtos: []string{alpn}}, &quic.Config{})
	return conn, time.Since(start), err
}

// request writes one request on s and reads its answer, with a read
// deadline timeout after the write (none if 0). It first waits 1ms, for
// the same reason as the server's work: the client's connection
// goroutine is done with what arrived before the request is written.
func request(s *quic.Stream, timeout time.Duration) (time.Duration, error) {
	time.Sleep(time.Millisecond)
	start := time.Now()
	var dl time.Time
	if timeout > 0 {
		dl = start.Add(timeout)
	}
	s.SetReadDeadline(dl)
	if _, err := s.Write([]byte("hello")); err != nil {
		return 0, err
	}
	return readAnswer(s, start)
}

func readAnswer(s *quic.Stream, start time.Time) (time.Duration, error) {
	b := make([]byte, 9)
	_, err := io.ReadFull(s, b)
	if err == nil && string(b) != "re: hello" {
		err = errors.New("answer " + string(b) + ", want re: hello")
	}
	return time.Since(start), err
}

// profile: 10ms each way, 2% loss, 1MB/s. The bandwidth is what keeps the
// handshake's instants exact: without it the datagrams of the server's
// first flight arrive at one instant, and whether the client's
// connection goroutine answers the first before it reads the second is a
// real-time race.
var profile = faultconn.Profile{Latency: 10 * time.Millisecond, Loss: 0.02, Bandwidth: 1_000_000}

// quicSetup is what every test here does first, outside the bubble:
// silence quic-go's warning about UDP buffer sizes (netsim's PacketConn
// has no SetReadBuffer) and make crypto/rand, which quic-go draws from
// for connection IDs, packet number skips and frame order, a seeded
// stream. Packet sizes then repeat from run to run, and with a bandwidth
// on the link a datagram's size is part of its arrival instant.
func quicSetup(t *testing.T) {
	t.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	cryptotest.SetGlobalRandom(t, 1)
}

// runQUIC runs body in a bubble (seed 1, profile) with the echo server on
// host "server", its certificate valid from from until until, and a
// client on host "client"; roots trusts the certificate.
func runQUIC(t *testing.T, from, until time.Time, body func(t *testing.T, n *netsim.Network, c *client, roots *x509.CertPool)) {
	t.Helper()
	cert, roots := selfSigned(t, "server", from, until)
	opts := harness.RunOptions{Seed: 1, FixedSeed: true, Default: profile}
	harness.RunWith(t, opts, func(t *testing.T, n *netsim.Network) {
		defer serveEcho(t, n, "server", cert)()
		c := newClient(t, n, "client")
		defer c.close()
		body(t, n, c, roots)
	})
}

// TestQUICRequestsLossAndPartition: quic-go v0.65.0 over netsim UDP with
// 2% loss. A client dials a server and sends 100 requests on one stream:
// the instants are exact, and so are the three requests that a lost
// datagram slows down. Under a partition (the server isolated) a read
// deadline fires at exactly its instant, and so does a new dial's
// context; after the heal the old stream gets its answer with the next
// probe, and both the old connection and a new one work again.
func TestQUICRequestsLossAndPartition(t *testing.T) {
	quicSetup(t)
	runQUIC(t, notBefore, notAfter, func(t *testing.T, n *netsim.Network, c *client, roots *x509.CertPool) {
		// One round trip, plus the serialization at 1MB/s of the client's
		// Initial datagrams (the ClientHello, with its post-quantum key
		// share, padded to 1280 bytes each) and of the server's flight
		// with the certificate: about 4.6KB in all.
		conn, took, err := c.dial(context.Background(), n, roots)
		if err != nil || took != 24620*time.Microsecond {
			t.Fatalf("dial: %v after %v, want success after 24.62ms", err, took)
		}
		defer conn.CloseWithError(0, "")
		// netsim's PacketConn is not a *net.UDPConn: quic-go falls back to
		// plain ReadFrom/WriteTo, without GSO, ECN, or the DF bit, hence
		// without path MTU discovery: no datagram exceeds its initial
		// packet size, 1280 bytes.
		if conn.ConnectionState().GSO {
			t.Error("GSO in use on a netsim PacketConn")
		}
		// Let the handshake's last datagrams (HANDSHAKE_DONE, session
		// ticket, their ACKs) go before the first request, not with it.
		time.Sleep(100 * time.Millisecond)

		s, err := conn.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var total time.Duration
		var slow []int
		var first time.Duration
		for i := range 100 {
			took, err := request(s, 0)
			if err != nil {
				t.Fatalf("request %d: %v after %v", i, err, took)
			}
			if i == 0 {
				first = took
			}
			if took > 30*time.Millisecond {
				slow = append(slow, i)
			}
			total += took
		}
		// A request is a round trip, the server's 1ms, and the
		// serialization of its two datagrams at 1MB/s (70µs in all).
		if first != 21070*time.Microsecond {
			t.Errorf("first request took %v, want 21.07ms", first)
		}
		// The 2% loss hits three requests; each waits for quic-go's loss
		// detection (a probe timeout) before its datagram is sent again.
		if len(slow) != 3 || slow[0] != 17 || slow[1] != 28 || slow[2] != 54 {
			t.Errorf("requests slowed by a loss: %v, want [17 28 54]", slow)
		}
		if want := 2251344 * time.Microsecond; total != want {
			t.Errorf("100 requests took %v, want %v", total, want)
		}
		time.Sleep(100 * time.Millisecond) // the last ACKs
		st := n.Stats().PacketTotal.Out
		if st.Segments != 232 || st.Lost != 3 {
			t.Errorf("datagrams: %d sent, %d lost; want 232, 3", st.Segments, st.Lost)
		}
		if m := c.pc.max.Load(); m != 1280 {
			t.Errorf("largest datagram the client wrote: %d bytes, want 1280", m)
		}

		// Under a partition the read deadline fires at exactly its
		// instant, with os.ErrDeadlineExceeded (a net.Error that times
		// out); the connection stays up (its idle timeout is 30s).
		n.Isolate("server")
		took, err = request(s, time.Second)
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() || took != time.Second {
			t.Fatalf("partitioned request: %v after %v, want a deadline exceeded after exactly 1s", err, took)
		}
		// A new connection cannot be made either: the dial's context ends
		// it at exactly its deadline.
		c2 := newClient(t, n, "client")
		defer c2.close()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, took, err = c2.dial(ctx, n, roots)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || took != 500*time.Millisecond {
			t.Fatalf("partitioned dial: %v after %v, want context.DeadlineExceeded after exactly 500ms", err, took)
		}

		// After the heal the unanswered request leaves with the client's
		// next probe (probe timeouts double while nothing is acknowledged),
		// and its answer comes back one round trip and 1ms later.
		n.Heal()
		s.SetReadDeadline(time.Time{})
		took, err = readAnswer(s, time.Now())
		if err != nil || took != 1487243*time.Microsecond {
			t.Fatalf("answer after heal: %v after %v, want success after 1.487243s", err, took)
		}
		took, err = request(s, 0)
		if err != nil || took != 21082*time.Microsecond {
			t.Fatalf("request after heal: %v after %v, want success after 21.082ms", err, took)
		}
		conn2, took, err := c2.dial(context.Background(), n, roots)
		if err != nil || took != 24611*time.Microsecond {
			t.Fatalf("new dial after heal: %v after %v, want success after 24.611ms", err, took)
		}
		defer conn2.CloseWithError(0, "")
		s2, err := conn2.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		took, err = request(s2, 0)
		if err != nil || took != 21070*time.Microsecond {
			t.Fatalf("request on the new connection: %v after %v, want success after 21.07ms", err, took)
		}
	})
}

// TestQUICCertificateValidIn2000: the bubble's clock reads 2000-01-01, so
// a certificate made with the real clock's dates (outside the bubble: in
// TestMain, a package variable, a testdata file) is not valid yet, and
// the client's handshake fails the instant the server's certificate
// arrives. One valid from 1999 to 2100 works.
func TestQUICCertificateValidIn2000(t *testing.T) {
	quicSetup(t)
	// The dates a certificate made with time.Now() outside the bubble has.
	// Fixed, not time.Now(): the dates are signed, and an ECDSA signature's
	// length (hence the server's flight, hence the instant the handshake
	// ends on a link with a bandwidth) depends on what it signs.
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		from, until time.Time
		wantErr     bool
		took        time.Duration // until the handshake ends, with the certificate's check
	}{
		{"real-clock dates", now, now.AddDate(1, 0, 0), true, 24618 * time.Microsecond},
		{"1999 to 2100", notBefore, notAfter, false, 24615 * time.Microsecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runQUIC(t, tc.from, tc.until, func(t *testing.T, n *netsim.Network, c *client, roots *x509.CertPool) {
				conn, took, err := c.dial(context.Background(), n, roots)
				if err == nil {
					conn.CloseWithError(0, "")
				}
				if took != tc.took {
					t.Errorf("dial ended after %v, want %v", took, tc.took)
				}
				var invalid x509.CertificateInvalidError
				if !tc.wantErr {
					if err != nil {
						t.Errorf("dial: %v, want success", err)
					}
				} else if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
					t.Errorf("dial: %v, want x509.CertificateInvalidError (Expired: not yet valid)", err)
				}
			})
		})
	}
}

// TestQUICBufferWarning: quic-go tries to raise a socket's UDP buffer
// sizes, and netsim's PacketConn has no SetReadBuffer, so the first
// Transport in a process logs a warning to the standard logger ("...
// Not a *net.UDPConn? See https://github.com/quic-go/quic-go/wiki/UDP-Buffer-Sizes").
// QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true silences it. Shown in child
// processes, as quic-go warns once per process.
func TestQUICBufferWarning(t *testing.T) {
	if os.Getenv("QUICSIM_WARNING_CHILD") != "" {
		cert, _ := selfSigned(t, "server", notBefore, notAfter)
		harness.Run(t, func(t *testing.T, n *netsim.Network) {
			serveEcho(t, n, "server", cert)()
		})
		return
	}
	child := func(env ...string) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestQUICBufferWarning$", "-test.count=1")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "QUICSIM_WARNING_CHILD=1")
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child %v: %v\n%s", env, err, out)
		}
		return string(out)
	}
	const warning = "quic-go/wiki/UDP-Buffer-Sizes"
	if out := child(); !strings.Contains(out, warning) {
		t.Errorf("without QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING: no warning about UDP buffer sizes in\n%s", out)
	} else {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, warning) {
				t.Logf("without the fix: %s", line)
			}
		}
	}
	if out := child("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true"); strings.Contains(out, warning) {
		t.Errorf("with QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true: the warning still appears in\n%s", out)
	}
}
