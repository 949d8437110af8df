// Package kv is headwind's teaching example: a small key-value and payment
// service that charges a card exactly once although its clients retry,
// and the tests that prove it on a bad network. Copy its tests as the
// template for your own service.
//
// A client that sent a charge and heard nothing back cannot know whether
// the request was lost on the way, or the charge was made and the answer
// lost. It must retry, so the server must recognize a retry. The pattern
// has three parts:
//
//   - Serial numbers. Like the pre-printed number on a carbon-copy purchase
//     order, every request carries a Serial written by the client before the
//     first attempt: an ID unique to the request and the Date it was written.
//     Every retry sends the same serial.
//   - A bounded dedupe table. The server remembers the serials it applied,
//     with their answers, and answers a repeat from memory instead of
//     applying it again. Memory is bounded: at most Config.Capacity serials,
//     each for at most Config.Expiry; the oldest is evicted first. A repeat
//     of a forgotten serial is refused with "ERR <id> expired" and never
//     applied again: the server refuses every unknown serial dated at or
//     before the latest date it forgot (see Config.Capacity).
//   - Retries with backoff, jitter and a deadline. The Client retries a
//     failed attempt on a new connection after an exponential Backoff with
//     full jitter from its own seeded random source, bounds each attempt
//     (ClientConfig.AttemptTimeout) and the whole call (ClientConfig.Timeout,
//     or the context), and then gives up with a *GaveUpError, which says
//     the outcome is unknown.
//
// In code:
//
//	srv, _ := kv.NewServer(kv.Config{Capacity: 10000, Expiry: time.Hour})
//	go srv.Serve(ln)
//
//	c, _ := kv.NewClient(kv.ClientConfig{Name: "pos1", Addr: "server:80", Dial: dialer.DialContext})
//	s := c.NewSerial()                           // once per payment
//	total, err := c.Charge(ctx, s, "alice", 500) // retries with s until answered
//	var gaveUp *kv.GaveUpError
//	switch {
//	case err == nil: // charged once, whatever happened on the way
//	case errors.Is(err, kv.ErrExpired), errors.As(err, &gaveUp):
//		// unknown: reconcile later; never charge again with a new serial
//	}
//
// # The protocol
//
// One request per line, one answer per line, fields separated by single
// spaces; keys, values and IDs are tokens (printable ASCII, no spaces) and
// dates are RFC 3339 in UTC:
//
//	CHARGE <id> <date> <account> <cents>  ->  OK <id> <total>
//	PUT    <id> <date> <key> <value>      ->  OK <id>
//	GET    <id> <key>                     ->  VALUE <id> <value> | NOTFOUND <id>
//	any                                   ->  ERR <id> <code> <reason>
//
// where code is expired, conflict (the ID was used for another request),
// skew (dated more than Config.MaxSkew ahead of the server's clock) or bad
// (malformed). A GET has no effect, so it has no date and is never deduped;
// its ID only matches the answer. Server.Exec carries out one line, which
// is how the unit tests speak the protocol.
//
// # How the tests prove it
//
// exactlyonce_test.go is the part to copy. TestExactlyOnce is a
// harness.Check property: every case is a synctest bubble with a netsim
// network whose faults (latency, loss, duplication, reordering,
// corruption, segment cuts) and nemesis schedule (partitions, isolations,
// degraded links, resets) are drawn by rapid, with 1 to 4 terminals
// charging concurrently. The clients record what they issue and what is
// acknowledged in a harness.Ledger, the server (through Config.OnApply)
// what it applies, and the ledger must balance: no serial applied twice,
// none acknowledged and never applied.
//
// The property is proven by its buggy twin: Config.NoDedupe turns the
// table off, and TestCheckCatchesDoubleCharge runs TestTwinNoDedupe in a
// subprocess (harness.RunTwin), asserts that Check caught a serial
// "applied 2 times" and printed a -rapid.seed, and replays that seed to
// get the very same failure each time. To see the report yourself:
//
//	HEADWIND_TWIN=no-dedupe go test ./examples/kv -run TestTwinNoDedupe -rapid.nofailfile
//
// restart_test.go is the template for a service that restarts.
// TestExactlyOnceAcrossRestarts runs the server as a harness.Service on
// its host, durable through a Journal (Config.Journal) that is the host's
// harness.Store, and crashes and restarts it (harness.T.Crash,
// harness.T.Restart) at drawn instants while the terminals retry; the
// books are the journal a last crash leaves. Its buggy twin,
// Config.ForgetSerials, journals the charges but keeps the dedupe table
// in memory only: after a restart a retry of a charge applied before the
// crash is charged again, and TestCheckCatchesRestartDoubleCharge asserts
// Check finds it (in 3 to 38 cases over rapid seeds 1 to 5):
//
//	HEADWIND_TWIN=forget-serials go test ./examples/kv -run TestTwinForgetSerials -rapid.nofailfile
//
// TestLinearizable records every put and get in a harness.History and
// checks it with harness.CheckLinearizable; its nemesis acts within the
// first 2s, where the operations are, and once the network has healed a
// fourth client reads each key again, so a stale put that lands after
// the others are done is seen too. The unit tests check the
// table's bounds (capacity, expiry at its exact instant) and the client's
// retry schedule at exact virtual instants.
//
// # Time
//
// The package takes time from package time only: the dates of serials,
// expiry, deadlines and backoff all run on virtual time inside a
// testing/synctest bubble, where the tests assert exact instants. Dates are
// compared across machines: the server refuses a date more than
// Config.MaxSkew ahead of its clock, so that a bad clock cannot push the
// horizon into the future.
//
// # Determinism
//
// A Client's jitter comes from its own math/rand/v2 source, seeded by
// ClientConfig.Seed, never from the global one; a Backoff with the same
// seed draws the same delays. Whether a call's deadline has come is decided
// by the clock, not by whether the context's timer has fired yet, so that
// the retries do not depend on the order the Go scheduler picks for events
// at one instant. The property gives each terminal its own account and its
// own instants for the same reason: a case replays bit for bit.
//
// # Limits
//
// The dedupe table holds at most Config.Capacity entries, each at most two
// lines of MaxLine bytes. The server serves at most Config.MaxConns
// connections at once (more wait in the listener's backlog) and closes one
// that is idle for Config.IdleTimeout. A request or answer line is at most
// MaxLine bytes. A Client keeps one connection and makes one call at a
// time. Without a Journal the table lives in memory: a restarted server
// has forgotten every serial. With one, the server writes and syncs each
// PUT and CHARGE to it before applying and answering it, and a new server
// reads it back, table included; the journal grows by one record per
// request (harness.Store bounds it with Service.MaxRecords and MaxBytes,
// and a request it refuses is answered "ERR <id> unavailable").
//
// # Errors
//
// A call that the server refused returns a *RefusedError matching
// ErrExpired, ErrConflict, ErrSkew, ErrBadRequest or ErrUnavailable. A
// call that ran out of time or attempts returns a *GaveUpError, which
// matches the context's error and the last attempt's (a *net.OpError as
// the socket gave it). An invalid Config or ClientConfig is an error
// naming the field, the value and the valid range; NewServer fails on a
// journal it cannot read, naming the record.
package kv
