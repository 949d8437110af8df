// Package conformance holds the engine's conformance matrix: one rapid
// state-machine test, TestConformance, that drives a connection through
// every front end of the engine and checks it against a model.
// HEADWIND_MATRIX_DUMPS=DIR keeps the trace and both ends' state of a
// case whose invariant broke, and the goroutines of one that hung.
// TestConformanceEveryCell runs the same cases cell by cell, so that no
// cell goes untested on a run: each front end x each mode x each fault
// kind, the kind always on (never drawn as zero), and partition and a
// profile change each as a cell of its own (done once, early, with data
// in flight), cellChecks cases each unless -rapid.checks or RAPID_CHECKS
// is set.
//
// # What a case draws
//
//   - a front end: faultconn over net.Pipe, faultconn over loopback TCP,
//     or a netsim connection;
//   - a mode: Stream or Segments;
//   - a window, and a profile with a random subset of the fault kinds:
//     latency, jitter (any distribution, correlation), bandwidth, loss,
//     burst loss (Gilbert-Elliott), duplicate, reorder, corrupt, segment
//     (cut sizes) and reset. Both directions start with it (faultconn:
//     each end's Out; netsim: the Default);
//   - a sequence of actions on the two ends a and b: write N bytes (with a
//     write deadline), pause or resume an end's reader, close-write,
//     close, reset now (faultconn: Conn.Reset on one end; netsim:
//     ResetConns), partition, heal, a new profile mid-stream (SetProfiles,
//     SetLink; often the healthy one), and let time pass (including, in a
//     bubble, long enough for retransmissions to give up).
//
// At the end the network is healed and made healthy, the readers resume,
// and the case waits for the final state.
//
// # The model and its invariants, checked after every action
//
//   - Bytes. Stream: what an end has read is exactly a prefix of what the
//     other wrote. Segments: what an end has read is the peer's segments
//     as the trace says they were delivered (each delivered copy in
//     delivery order, up to the order within one instant; a corrupted
//     copy differs in exactly one bit; lost and blocked segments are
//     holes), matched byte for byte by a backtracking matcher. For
//     faultconn in Segments mode the reader's In direction always runs
//     through the engine (a profile that only cuts at 64 KiB), so that a
//     partition's holes on it show in the trace too: the bytes read are
//     then matched in two levels, the In link's segments carved from the
//     raw stream, and that stream against the peer's Out deliveries.
//   - Errors, as Linux gives them. A read returns io.EOF only after the
//     peer closed or shut down writing (and, in Stream mode on a
//     connection without a reset, only after every byte), after this
//     end's own connection error, or — over net.Pipe, which cannot carry a
//     reset — when a reset happened. ECONNRESET only when the trace shows
//     a reset on the connection or the model knows one follows (a close
//     with unread data, data written to a closed end); ETIMEDOUT only when
//     the trace shows retransmissions gave up. A connection error is
//     reported once per end, to a read or a write; later reads give io.EOF
//     and writes EPIPE. A write fails with net.ErrClosed only after this
//     end's Close, with EPIPE only after its CloseWrite, a connection
//     error or a reset; a successful write took every byte. CloseWrite over
//     net.Pipe is errors.ErrUnsupported. Any other error fails the case
//     (io.ErrClosedPipe leaking from net.Pipe did).
//   - In a bubble, exact instants: after a reset now, the end that reset
//     has its read fail with ECONNRESET (ErrInjected) at once.
//   - Memory within the window: netsim's conns never hold more than Window
//     bytes per direction (in flight plus unread, as Conn.String reports);
//     for faultconn over net.Pipe in Stream mode, the bytes written and
//     not yet read never exceed the Out link's window plus the one segment
//     the pump holds (the pipe buffers nothing). Over TCP the kernel's
//     buffers are not the library's and are not bounded here.
//   - At the end, a connection that had no reset or timeout has delivered
//     everything: Stream exactly, Segments every delivered segment; end
//     of stream after a close. A connection with a reset only has to stay
//     consistent (a reset lost to a partition leaves its peer open).
//   - No hang, no leak: in a bubble, everything must finish before the
//     bubble's root returns (rapid.SyncTest fails on a deadlock and waits
//     for every goroutine); over TCP, goleak finds no goroutine left after
//     both conns' Done.
//
// # Time
//
// netsim and faultconn over net.Pipe run inside a synctest bubble
// (rapid.SyncTest, since synctest.Test inside rapid.Check cannot report a
// failure): their checks are at exact virtual instants, after
// synctest.Wait. Real sockets are not durably blocking in a bubble, so the
// TCP front end runs in real time with millisecond latencies and short
// partitions; its checks are of eventual outcomes only: invariants that
// hold at any instant, and a final state it must reach, waited for while
// the readers make progress (a liveness watchdog fails the case after two
// minutes without any).
package conformance
