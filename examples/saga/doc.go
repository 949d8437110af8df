// Package saga books a trip across three services — a flight, a hotel
// and a car, each an HTTP service on its own host — as a saga: book each
// in turn, and if one cannot be booked, cancel what was booked, so that a
// trip ends booked everywhere or nowhere without a distributed
// transaction. It is an example of headwind: its tests run the services
// and the orchestrator as real net/http code over a netsim network and
// prove, with the harness, that all-or-nothing holds and no compensation
// is applied twice, whatever the network does.
//
//	for _, name := range []string{"flight", "hotel", "car"} {
//		ln, _ := n.Host(name).Listen("tcp", ":80")
//		go http.Serve(ln, &saga.Service{Name: name, Ledger: &ledger})
//	}
//	o := &saga.Orchestrator{
//		Client: &http.Client{Transport: &http.Transport{DialContext: n.Host("agency").DialContext}},
//		Steps: []saga.Step{
//			{Name: "flight", URL: "http://flight"},
//			{Name: "hotel", URL: "http://hotel"},
//			{Name: "car", URL: "http://car"},
//		},
//		Ledger: &ledger, // Issue, Ack, Reject; the services Apply
//	}
//	res, err := o.BookTrip(ctx, "trip-42") // res.Booked, or res.Failed and res.Compensated
//
// # The pattern
//
// On a bad network a request has three outcomes, not two: done, refused,
// and unknown — the request timed out, and the service may have carried
// it out, or may yet, when a retransmission of it arrives. The saga
// stays correct by making every operation safe to repeat and every
// unknown safe to undo:
//
//   - Every request carries an idempotency key (the trip's ID), and the
//     services remember where each trip stands, so a retried book or
//     cancel has no second effect. Books are retried a bounded number of
//     times within a budget; cancels (compensations) are retried, with
//     growing timeouts, until acknowledged.
//   - A booking whose outcome is unknown is compensated like a booking
//     made: the orchestrator cancels every step it booked or may have
//     booked, in reverse order.
//   - A cancel of a trip the service never booked leaves a tombstone, so
//     a delayed book that arrives after its compensation is refused: the
//     trip cannot come back to life.
//
// # How the tests prove it
//
// TestAllOrNothing is a harness.Check property. Each case draws the
// faults, a nemesis schedule, the services' capacities (so that some
// trips are refused midway and compensated) and the orchestrator's
// attempt timeout (100ms to 1s, so that some attempts time out after the
// service acted). It books ten trips one after another, spread over the
// nemesis's 10 seconds, requires that the sagas end within a minute of
// virtual time (the nemesis heals the network at 10s), waits for the
// heal and one more minute for delayed requests to land, and then checks
// directly that each trip is booked at all three services or at none, as
// BookTrip reported, and checks with a harness.Ledger, into which the
// services record every booking and cancellation they carry out, that
// none was carried out twice. TestAllOrNothingDeterministic checks that
// the property's cases run the same way twice from the same draws, so
// that a printed seed replays.
//
// The buggy twin (harness.Twin() == "non-idempotent-compensation") has
// services whose cancel refunds again when a cancel is retried.
// TestCheckCatchesNonIdempotentCompensation runs it in a subprocess with
// harness.RunTwin, asserts that Check caught a cancellation applied
// twice, and replays the printed -rapid.seed three times; each must fail
// the same way.
//
// TestSagaInstants and TestSagaCompensatesUnanswered are harness.Run
// tests on fixed 10ms links that assert the exact virtual instant of
// every request: a refusal and its compensation, and a car service cut
// off mid-request whose booking is compensated after the heal and whose
// delayed booking request is then refused by the tombstone.
//
// # Time
//
// The orchestrator takes time from package time only: in a synctest
// bubble, timeouts, backoffs and budgets run on virtual time at exact
// instants.
//
// # Limits
//
// Each book makes at most Orchestrator.Attempts attempts within the
// trip's Orchestrator.Budget. Cancels are not bounded in number: only the
// context given to BookTrip ends them. A Service remembers every trip it
// has heard of; a real one would expire tombstones after the longest
// time a request can be delayed.
//
// # Errors
//
// BookTrip reports a trip that could not be booked in its Result (the
// step and its cause, ErrRefused for a 409), not as an error; its error
// is for a compensation it could not complete before its context ended.
package saga
