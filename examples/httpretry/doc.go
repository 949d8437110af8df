// Package httpretry is an HTTP client and server that stay correct on a
// bad network: the client gives every attempt a timeout, retries failed
// ones with the same idempotency key, and stops hammering a dead server
// with a circuit breaker; the server (Deduper) carries out each key at
// most once, however many of its attempts arrive. It is an example of
// headwind: its tests run real net/http code over netsim and prove, with
// the harness, that nothing is charged twice and that the breaker moves
// at exactly the instants its settings say.
//
//	srv := &http.Server{Handler: &httpretry.Deduper{Next: charge}}
//	go srv.Serve(ln)
//	c := &httpretry.Client{Dial: host.DialContext, Timeout: time.Second, Breaker: &httpretry.Breaker{}}
//	defer c.CloseIdleConnections()
//	resp, err := c.Post(ctx, "http://server/charge", "payment-42", body)
//	if errors.Is(err, httpretry.ErrOpen) { ... } // failed fast: the server has been failing
//
// # The pattern
//
// A timed-out request is not a failed request: the server may have
// carried it out and its answer been lost, or the request may still be
// on its way. netsim makes this concrete: a request written on a
// connection the client then closed is retransmitted until it gets
// through, and TestBreakerInstants shows one arriving three seconds late,
// after the network healed. Retrying is therefore only safe if the server
// can recognise the retry: the client sends one key per logical request
// (Idempotency-Key), the same on every attempt, and the server remembers
// the response of each key's first run and replays it. The server's
// memory is bounded (Deduper.Capacity keys, oldest finished forgotten
// first; 503 when all are still running), so the guarantee holds for keys
// retried within that window.
//
// Retrying a dead server multiplies the load on it and makes every caller
// wait out every timeout. The Breaker counts consecutive failed attempts;
// at Breaker.Failures it opens and calls fail at once with ErrOpen, using
// no network and no time. After Breaker.CoolDown the next call is the
// half-open trial: its success closes the breaker, its failure opens it
// for another cool-down.
//
// # How the tests prove it
//
// TestExactlyOnce is a harness.Check property: over drawn faults (loss,
// duplication, reordering, corruption, short segments), nemesis
// schedules (partitions, isolations, resets of live connections) and a
// drawn attempt timeout (100ms to 1s, so that some attempts time out
// after the server acted), a client makes ten payments spread over the
// nemesis's 10 seconds; the server records each charge in a
// harness.Ledger, and after the network has healed and a minute more has
// passed for late requests to land, the ledger must show no payment
// charged twice and none acknowledged but not charged.
// TestExactlyOnceDeterministic checks that the property's cases run the
// same way twice from the same draws, so that a printed seed replays.
//
// The buggy twin (harness.Twin() == "no-idempotency-key") serves without
// the Deduper: TestCheckCatchesMissingIdempotencyKey runs it in a
// subprocess with harness.RunTwin, asserts that Check caught a double
// charge, and replays the printed -rapid.seed three times, each of which
// must fail the same way. (The property also caught a bug of the
// Deduper's first version: a request cut off by a reset claimed its key,
// and the empty answer of that run was replayed to the retry. The
// Deduper now reads the whole request before it claims the key.)
//
// TestBreakerInstants is a harness.Run test on fixed 10ms links: the
// server is isolated with netsim.Network.Isolate, and the test asserts
// the exact virtual instant of each attempt's timeout, of the failure
// that opens the breaker, of the calls refused while it is open (no time
// passes, no dial), of the half-open trial after the cool-down, and,
// after netsim.Network.Heal, of the trial whose success closes it.
//
// # Time
//
// The client takes time from package time only: in a synctest bubble,
// timeouts, backoffs and cool-downs run on virtual time at exact instants.
// The breaker has no timer; it changes state at the instants of the calls
// that ask it and of their outcomes.
//
// # Limits
//
// A Post makes at most Client.Attempts attempts, each bounded by
// Client.Timeout from dial to the last byte, and reads at most
// Client.MaxResponse bytes of body. A Deduper remembers at most Capacity
// keys, reads at most MaxBody bytes of a keyed request, and keeps each
// recorded response whole in memory.
//
// # Errors
//
// Post's error says how many attempts were made and why it stopped; it
// wraps the last attempt's error (a *net.OpError, context.DeadlineExceeded
// for a timeout, or a server error) and ErrOpen when the breaker refused.
// A 5xx answer is a failed attempt; every other status is an answer, not
// an error.
package httpretry
