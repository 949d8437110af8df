package saga

import (
	"fmt"
	"net/http"
	"sync"
)

// KeyHeader is the request header that carries the idempotency key: the
// trip's ID. A service holds at most one booking per trip, so a book and
// a cancel of the same trip carry the same key, each on its own path.
const KeyHeader = "Idempotency-Key"

// Ledger receives a saga's bookkeeping: the orchestrator Issues the key of
// every request it starts (once, however often it retries), Acks it when
// told it succeeded and Rejects it when refused; a service Applies the key
// of every effect it carries out. *harness.Ledger implements it and
// checks that no effect happened twice. Keys are BookKey and CancelKey.
type Ledger interface {
	Issue(key string)
	Apply(key string)
	Ack(key string)
	Reject(key string)
}

// BookKey is the ledger key of booking trip at service.
func BookKey(service, trip string) string { return service + "/book/" + trip }

// CancelKey is the ledger key of cancelling trip at service: the refund
// of its booking, or the note that it must never be booked.
func CancelKey(service, trip string) string { return service + "/cancel/" + trip }

// Service is one booking service of the saga (the flight, the hotel or
// the car), an http.Handler with two operations, each a POST whose
// Idempotency-Key header names the trip:
//
//	POST /book    200 booked, or already booked (a retry)
//	              409 refused: sold out, or the trip was cancelled first
//	POST /cancel  200 cancelled, or already cancelled (a retry)
//
// Both are idempotent, so the orchestrator may retry them freely. A
// cancel of a trip the service never booked leaves a tombstone: a book
// request for it that arrives later (a retry the network delayed) is
// refused, so a compensated trip cannot come back to life. A refusal is
// remembered too: a retry of a refused book is refused again, even if a
// place has been freed since.
//
// Set the exported fields before serving. The zero value is a service
// named "" with unlimited places. A Service is safe for concurrent use.
type Service struct {
	// Name names the service in ledger keys; it must match the
	// orchestrator's Step.Name.
	Name string
	// Capacity is how many trips it can have booked at once; a book
	// beyond it is refused. Zero means no limit.
	Capacity int
	// Ledger, if not nil, gets an Apply for every booking and every
	// cancellation carried out.
	Ledger Ledger

	mu     sync.Mutex // guards trips and active
	trips  map[string]state
	active int // trips in state booked

	// nonIdempotentCancel makes the buggy twin: a cancel of a trip that
	// is already cancelled refunds it again. Set only by tests.
	nonIdempotentCancel bool
}

// state is where a trip stands at one service. The zero value is "never
// heard of".
type state int

const (
	unknown state = iota
	booked
	refused
	cancelled
)

// ServeHTTP serves /book and /cancel.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "saga: POST only", http.StatusMethodNotAllowed)
		return
	}
	trip := r.Header.Get(KeyHeader)
	if trip == "" {
		http.Error(w, "saga: missing "+KeyHeader, http.StatusBadRequest)
		return
	}
	switch r.URL.Path {
	case "/book":
		if st := s.book(trip); st != booked {
			http.Error(w, fmt.Sprintf("%s: trip %s %s", s.Name, trip, st), http.StatusConflict)
			return
		}
		fmt.Fprintf(w, "%s: trip %s booked\n", s.Name, trip)
	case "/cancel":
		s.cancel(trip)
		fmt.Fprintf(w, "%s: trip %s cancelled\n", s.Name, trip)
	default:
		http.NotFound(w, r)
	}
}

// book books trip unless it is known already, and returns its state.
func (s *Service) book(trip string) state {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.trips == nil {
		s.trips = make(map[string]state)
	}
	if st := s.trips[trip]; st != unknown {
		return st
	}
	if s.Capacity > 0 && s.active >= s.Capacity {
		s.trips[trip] = refused
		return refused
	}
	s.trips[trip] = booked
	s.active++
	s.apply(BookKey(s.Name, trip))
	return booked
}

// cancel cancels trip: refunds it if booked, leaves a tombstone if not.
func (s *Service) cancel(trip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.trips == nil {
		s.trips = make(map[string]state)
	}
	st := s.trips[trip]
	if st == cancelled && !s.nonIdempotentCancel {
		return // a retry: acknowledge again, do nothing again
	}
	if st == booked {
		s.active--
	}
	s.trips[trip] = cancelled
	s.apply(CancelKey(s.Name, trip))
}

// apply records an effect. s.mu is held, so effects are recorded in the
// order they happen.
func (s *Service) apply(key string) {
	if s.Ledger != nil {
		s.Ledger.Apply(key)
	}
}

// Booked reports whether trip is booked at the service now.
func (s *Service) Booked(trip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trips[trip] == booked
}

// Active returns how many trips are booked at the service now.
func (s *Service) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

func (st state) String() string {
	switch st {
	case booked:
		return "booked"
	case refused:
		return "refused"
	case cancelled:
		return "cancelled"
	}
	return "unknown"
}
