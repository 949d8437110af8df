// Package faultconn puts deterministic, seedable network faults on real
// connections: latency, jitter, bandwidth limits, loss, duplication,
// reordering, corruption and resets, in tc-netem's vocabulary, on any
// net.Conn, net.Listener or net.PacketConn.
//
// Use it to see how code behaves on a bad network without leaving the test
// process:
//
//	ln, _ := net.Listen("tcp", "127.0.0.1:0")
//	ln, _ = faultconn.WrapListener(ln, faultconn.Config{
//		Seed: 42,
//		Out:  faultconn.Profile{Latency: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.01},
//	})
//	srv := &http.Server{Handler: h}
//	go srv.Serve(ln)
//
// Profiles can also be written as text, the syntax of the harness's
// -headwind.faults flag:
//
//	p, err := faultconn.ParseProfile("latency=50ms jitter=10ms distribution=normal loss=1% bandwidth=1MiB/s")
//
// # Fault model
//
// A Profile describes one direction. Writes are cut into segments of at
// most Profile.Segment bytes (the cut depends only on the write sizes and
// the configuration), each segment's fate is drawn, and it arrives after
// Latency plus jitter, behind earlier segments at Bandwidth. What loss,
// duplication, reordering and corruption mean on a byte stream depends on
// the Mode: in Stream mode (the default, TCP-faithful) lost and corrupted
// segments are retransmitted after a retransmission timeout (at least
// 200ms, doubling per consecutive loss up to 120s; after 15
// retransmissions the connection fails with ETIMEDOUT, 924.6s after the
// first send with the minimum timeout), duplicates are discarded and
// reordering becomes head-of-line delay, so the bytes always arrive intact
// and in order. In Segments mode every fate shows in the bytes: holes,
// repeats, swaps and flipped bits. Packet conns always behave like
// Segments, one datagram per write.
//
// # Time
//
// faultconn takes time from package time only, and every wait is on a
// channel or a timer, so inside a testing/synctest bubble it runs on the
// bubble's virtual clock: a 50ms latency is exactly 50ms, and an hour of
// traffic takes no real time. Real sockets are not durably blocking inside
// a bubble; wrap both ends of a net.Pipe made inside the bubble instead (or
// use netsim). Outside a bubble the same code runs in real time.
//
// # Determinism
//
// Every direction of every conn has its own random stream, seeded from
// Config.Seed, the conn's Name and the direction. The fates of Out are
// deterministic: they depend only on the seed, the name and the sizes of
// the writes. The fates of In depend on how the kernel cut what arrived
// into reads, which real sockets do not make deterministic; for
// reproducible faults in both directions wrap both ends and fault their
// Out directions. Conns from WrapListener and Dialer are named Name#1,
// Name#2, … in accept or dial order (a Dialer counts the dials it starts,
// failed ones included) and keyed by that name, except that conns accepted
// or dialed at the same instant — whose order is the Go scheduler's — and
// a conn first written at the instant it was accepted or dialed are
// keyed, and from their first write named, by what they carry:
// Name#f/hash, f the first ordinal of the instant and hash that of the
// first 4096 bytes of the conn's first write through the engine (#k
// appended for the k-th with the same bytes). Such conns meet the same
// fates whichever goroutine came first, unless they carry the same first
// bytes at the same instant or a random first write (a TLS ClientHello).
// Each fault family draws from its own
// sub-stream, so adding a fault kind leaves existing seeds' fates alone; a
// Stream retransmission draws its fate when it is sent, from its segment
// and transmission number, under the profile then in force.
//
// # Limits
//
// Each direction holds at most Config.Window bytes (default 256 KiB) in
// flight plus delivered-but-unread; a writer beyond it blocks until the
// reader drains, its deadline, or Close, and a packet conn drops the
// datagram instead, counting it in Stats. A Trace keeps at most its limit
// of events (default 65536) and counts what it discarded; it gives events
// in a canonical order within each instant, so that runs with the same
// fates print the same trace; WriteSequence draws one as a
// message-sequence chart in at most SequenceOptions.MaxLines lines, and
// ReadJSON reads WriteJSON's form back, keeping at most its limit of
// events. A faulted
// direction of a Conn runs one pump goroutine; a direction with no faults
// runs none and adds no copy and no allocation. Close is close(2): it
// returns at once, and the pumps deliver what Write accepted in the
// background, giving up (and resetting the wrapped conn) only after
// Config.Linger (default DefaultLinger, 2m) in which the wrapped conn took
// nothing; Done is closed when they are finished. Inside a synctest
// bubble, wait for Done before the test returns, since the clock stops
// with the bubble's root goroutine. Latency and Jitter are at
// most a day, Bandwidth at most MaxBandwidth and Window at most MaxWindow,
// so that no sum of delays the engine forms can overflow.
//
// # Errors
//
// Errors are what a Linux socket gives: a *net.OpError wrapping
// os.ErrDeadlineExceeded (Timeout() true) at a deadline, net.ErrClosed after
// Close, syscall.ECONNRESET after a reset, syscall.ETIMEDOUT when
// retransmissions gave up (a reset or a timeout is reported once, to the
// first Read or Write that meets it; later reads give io.EOF and writes
// EPIPE, as on Linux), syscall.EPIPE on a write after CloseWrite, and
// a bare io.EOF at the end of the stream. Errors caused by injected faults
// also match ErrInjected. An injected reset on a *net.TCPConn closes it
// with linger 0, so that the real peer sees ECONNRESET too; other wrapped
// conns (net.Pipe) can only be closed, so their peer reads io.EOF. Invalid
// configuration is an error naming the field, its value and the valid
// range.
package faultconn
