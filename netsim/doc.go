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
// and Heal cut and restore reachability; SetPartitionMode chooses whether
// a partition is silence (Drop) or answers dials with EHOSTUNREACH
// (Reject).
//
// # Hosts that crash, restart and pause
//
// Hosts have the lifecycle of Linux machines. Crash powers a host off: it
// sends nothing more (no FIN, no reset), its sockets vanish and its own
// calls fail, and its peers hear silence until their retransmissions or
// dials time out. Restart boots a new incarnation at the same address:
// segments of the old connections are answered with resets, dials are
// refused until something listens. Pause freezes a host's traffic both
// ways, as a stopped process looks from the network; Resume releases what
// was held, in order, at the resume instant.
//
//	n.Crash("db")   // clients' requests stall, then time out
//	n.Restart("db") // the old conns get resets; the service listens again
//	n.Pause("lead") // a GC pause: its lease may expire meanwhile
//	n.Resume("lead")
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
// Config.Seed and the connection's key, so the fates of a connection's
// segments depend only on the seed and on what is written on it, not on
// other traffic or on goroutine scheduling. Nothing random is drawn before
// the first write: the handshake sees only Latency and partitions. The key
// is fixed at the first write on the connection, in either direction:
//
//   - a connection that was the only dial from its host to its server
//     address at its virtual instant, first written at a later instant
//     (the usual case: a dial takes a round trip), is keyed by its dial
//     ordinal, "client->server:port#n" (n counts the dials from that host
//     to that address), and named "client:port->server:port#n";
//   - connections dialed from one host to one address at the same instant
//     (goroutines dialing in parallel) reach Dial in an order the Go
//     scheduler picks, so their ordinals and ephemeral ports are not
//     stable: they are keyed, and from their first write named, by what
//     they carry, "client->server:port#f/hash", f the first ordinal of the
//     instant and hash that of the first link.KeyBytes (4096) bytes of the
//     first write ("#k" appended for the k-th with the same bytes), and so
//     is a connection first written at the instant it was dialed.
//
// Parallel dials that carry different first writes therefore meet the same
// fates, under the same names, whichever goroutine dialed first, and a
// seed replays them. What stays up to the scheduler: which of them gets
// which ephemeral port and which ordinal (their LocalAddr, and their names
// until they write); which of several carrying the same first bytes at the
// same instant counts first (a server that greets first with the same
// banner on every connection is such a case); which direction keys a
// connection when both ends write first at the same instant; and first
// writes that are themselves random (a TLS ClientHello), which change the
// key from run to run when it is keyed by content. Addresses and ephemeral
// ports (from 49152, per host) are otherwise handed out in order. A packet
// socket has one flow per destination address,
// "host:port->host:port/udp", with its own stream, so fates to one
// destination do not depend on datagrams to others — up to MaxFlows
// destinations per socket; beyond, see MaxFlows.
//
// # Limits
//
// Every buffer is bounded, and what a limit turns away is counted where
// the user can see it (Conn.Stats, PacketConn.Stats, Network.Stats, Dump):
//
//   - Config.Window bytes per direction of a stream conn: a writer beyond
//     it blocks.
//   - Config.Backlog connections per listener: beyond it dials go
//     unanswered and retry.
//   - Config.MaxDatagram bytes per datagram: beyond it WriteTo fails with
//     EMSGSIZE.
//   - Config.RecvQueue bytes per packet socket, each datagram costing its
//     payload plus 256: a datagram that arrives while the queue holds more
//     is dropped and counted in PacketStats.RecvDropped (Linux's
//     RcvbufErrors). As on Linux, an empty queue takes a datagram of any
//     size, so a small queue slows datagrams down to one at a time but
//     never drops them all.
//   - The datagrams in flight from one socket to one destination cost at
//     most max(Config.Window, Config.MaxDatagram+256) bytes: one datagram
//     of MaxDatagram always fits, whatever the stream window; beyond it a
//     datagram is dropped at send and counted in PacketStats.Out.Dropped.
//   - MaxFlows flows per packet socket: beyond it, the least recently
//     written idle flows are freed, so memory does not grow with the
//     number of destinations (see MaxFlows for what that does to random
//     streams).
//   - The trace's limit.
//
// A datagram to an address no host has, or to a port no socket is bound
// to, is lost without an error and counted in PacketStats.Unreachable. A
// connection has no goroutine of its own: one timer per link delivers its
// segments.
//
// # Errors
//
// Errors are what a Linux socket gives, as *net.OpError: ECONNREFUSED when
// nothing listens, ETIMEDOUT when a dial or retransmissions give up,
// ECONNRESET after a reset, EPIPE when writing after the peer's reset
// arrived in CLOSE_WAIT, EMSGSIZE for a datagram too large,
// os.ErrDeadlineExceeded at deadlines, net.ErrClosed after Close and on a
// crashed host's sockets, ENETDOWN for a crashed host's dials and listens,
// EHOSTUNREACH for a dial across a partition in Reject mode; an unknown
// host is a *net.DNSError with IsNotFound. Injected faults also match
// faultconn.ErrInjected.
package netsim
