// Package netsim is an in-memory network of named hosts for tests: real,
// unmodified Go networking code (net/http, gRPC, database clients,
// consensus libraries — anything that takes a net.Conn, a net.Listener or
// a dial function) runs over it inside one process, with faults on every
// link and, inside a testing/synctest bubble, on a virtual clock where an
// hour of traffic takes milliseconds.
//
//	synctest.Test(t, func(t *testing.T) {
//		n, _ := netsim.New(netsim.Config{Seed: 1, Default: faultconn.Profile{Latency: 50 * time.Millisecond}})
//		defer n.Close()
//		ln, _ := n.Host("server").Listen("tcp", ":80")
//		go http.Serve(ln, handler)
//		client := &http.Client{Transport: &http.Transport{DialContext: n.Host("client").DialContext}}
//		resp, err := client.Get("http://server/") // 1 RTT to dial, 1 RTT for the request: 200ms
//		...
//	})
//
// Each host has a name (a DNS label) and an IPv4 address from
// 198.18.0.0/15, handed out in creation order. Addresses are *net.TCPAddr
// and *net.UDPAddr; dial "host:port" or "ip:port". Every direction between
// two hosts has a faultconn.Profile, Config.Default unless SetLink says
// otherwise; loopback within one host has no faults. Partition, Isolate
// and Heal cut and restore reachability.
//
// # Time
//
// netsim takes time from package time only and every wait is on a channel
// or a timer made by the network, so inside a synctest bubble everything —
// dials, latency, bandwidth, retransmissions, deadlines — runs on virtual
// time at exact instants. Create the Network inside the bubble, and Close
// it before the bubble's function returns: the bubble's clock stops when
// its root goroutine returns, and Close makes every blocked call return at
// once. Outside a bubble netsim runs in real time (at the Go runtime's
// timer resolution, about a millisecond for short delays).
//
// # Determinism
//
// Each direction of each connection has its own random stream, seeded from
// Config.Seed and the link's stable name, "client:port->server:port#n"
// (n counts the dials from that client host to that server address), so
// the fates of a connection's segments depend only on the seed and on what
// is written on it, not on other traffic or on goroutine scheduling.
// Addresses and ephemeral ports (from 49152, per host) are handed out in
// order.
//
// # Limits
//
// Every buffer is bounded: Config.Window bytes per direction of a stream
// conn (a writer beyond it blocks), Config.Backlog connections per
// listener (beyond it dials go unanswered and retry), Config.RecvQueue
// bytes per packet socket (beyond it datagrams are dropped and counted),
// Config.MaxDatagram bytes per datagram (beyond it EMSGSIZE), and the
// trace's limit. A connection has no goroutine of its own: one timer per
// link delivers its segments.
//
// # Errors
//
// Errors are what a Linux socket gives, as *net.OpError: ECONNREFUSED when
// nothing listens, ETIMEDOUT when a dial or retransmissions give up,
// ECONNRESET after a reset, EPIPE when writing after the peer's reset
// arrived in CLOSE_WAIT, EMSGSIZE for a datagram too large,
// os.ErrDeadlineExceeded at deadlines, net.ErrClosed after Close; an
// unknown host is a *net.DNSError with IsNotFound. Injected faults also
// match faultconn.ErrInjected.
package netsim
