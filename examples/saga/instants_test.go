package saga_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/examples/saga"
	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// setLatency gives every direction between the agency and the services a
// fixed latency, so that -headwind.faults cannot move the instants.
func setLatency(t *testing.T, n *netsim.Network, d time.Duration) {
	p := faultconn.Profile{Latency: d}
	for _, s := range services {
		require.NoError(t, n.SetLink("agency", s, p))
		require.NoError(t, n.SetLink(s, "agency", p))
	}
}

// served logs the requests the services answer, with their instants.
type served struct {
	start time.Time
	mu    sync.Mutex
	log   []string
}

// wrap logs what h answers for each request: instant, service, path,
// trip and status.
func (s *served) wrap(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.log = append(s.log, fmt.Sprintf("%v %s%s %s %d", time.Since(s.start), name, r.URL.Path, r.Header.Get(saga.KeyHeader), sw.status))
	})
}

func (s *served) get() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// TestSagaInstants: on 10ms links, a dial costs 20ms and a request on an
// open connection 20ms. Trip t1 books the flight, the hotel and the car
// (each a dial and a request: 40ms) by 120ms, taking the car's only
// place. Trip t2 books the flight and the hotel on the kept-alive
// connections (20ms each), is refused the car at 180ms, and cancels the
// hotel, then the flight: compensated at 220ms.
func TestSagaInstants(t *testing.T) {
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		setLatency(t, n, 10*time.Millisecond)
		var ledger harness.Ledger
		start := time.Now()
		log := &served{start: start}
		w, err := newWorld(n, setup{capacity: map[string]int{"car": 1}, ledger: &ledger, wrap: log.wrap})
		require.NoError(t, err)
		defer w.close()
		ctx := context.Background()

		res, err := w.orch.BookTrip(ctx, "t1")
		require.NoError(t, err)
		require.Equal(t, saga.Result{Trip: "t1", Booked: true}, res)
		require.Equal(t, 120*time.Millisecond, time.Since(start))

		res, err = w.orch.BookTrip(ctx, "t2")
		require.NoError(t, err)
		require.False(t, res.Booked)
		require.Equal(t, "car", res.Failed)
		require.ErrorIs(t, res.Cause, saga.ErrRefused)
		require.Equal(t, []string{"hotel", "flight"}, res.Compensated)
		require.Equal(t, 220*time.Millisecond, time.Since(start))

		require.Equal(t, []string{
			"30ms flight/book t1 200", "70ms hotel/book t1 200", "110ms car/book t1 200",
			"130ms flight/book t2 200", "150ms hotel/book t2 200", "170ms car/book t2 409",
			"190ms hotel/cancel t2 200", "210ms flight/cancel t2 200",
		}, log.get())
		require.Equal(t, []string{"flight", "hotel", "car"}, w.booked("t1"))
		require.Empty(t, w.booked("t2"))
		require.NoError(t, ledger.Check())
		require.Equal(t, harness.LedgerCounts{Keys: 8, Issued: 8, Applied: 7, Acked: 7, Rejected: 1}, ledger.Counts())
	})
}

// TestSagaCompensatesUnanswered: the car service is cut off while trip
// t1's car booking is on its way, so the orchestrator cannot know whether
// the car was booked; it cancels the car as well as the flight and the
// hotel, and the car's cancel, sent before the network heals, gets
// through after it. The booking request itself, retransmitted by the
// network all along, reaches the car after the cancel and is refused: the
// tombstone the cancel left keeps the trip from coming back to life.
//
// With 10ms links and the orchestrator's defaults (1s attempts, 3 of
// them, 100ms then 200ms apart; cancels retried with doubling timeouts):
//
//	   0ms  flight booked by 40ms, hotel by 80ms
//	  80ms  car: dial (20ms), then the request is written at 100ms
//	 105ms  the car is isolated: the request, due at 110ms, is lost and
//	        retransmitted at 300, 700, 1500, 3100 and 6300ms
//	1080ms  attempt 1 times out; attempts 2 (1180ms) and 3 (2380ms) dial
//	        into the void (SYNs at +0, +1s, +3s, ...) and time out at
//	        2180 and 3380ms: the car's outcome is unknown
//	3380ms  compensation: cancel the car; attempt 1 (1s) times out at
//	        4380ms, attempt 2 (2s) starts at 4480ms
//	5000ms  the network heals
//	5380ms  attempt 3's SYN retransmission gets through; net/http hands
//	        the new conn to the waiting cancel: the car cancels (leaves a
//	        tombstone) at 5410ms, acknowledged at 5420ms
//	5420ms  the hotel and the flight are cancelled on their open conns,
//	        by 5460ms: BookTrip returns
//	6310ms  the booking request of attempt 1 reaches the car: refused
func TestSagaCompensatesUnanswered(t *testing.T) {
	harness.Run(t, func(t *testing.T, n *netsim.Network) {
		setLatency(t, n, 10*time.Millisecond)
		var ledger harness.Ledger
		start := time.Now()
		log := &served{start: start}
		w, err := newWorld(n, setup{ledger: &ledger, wrap: log.wrap})
		require.NoError(t, err)
		defer w.close()

		type ended struct {
			res saga.Result
			err error
			at  time.Duration
		}
		done := make(chan ended, 1)
		go func() {
			res, err := w.orch.BookTrip(context.Background(), "t1")
			done <- ended{res, err, time.Since(start)}
		}()
		time.Sleep(105 * time.Millisecond)
		n.Isolate("car")
		time.Sleep(5*time.Second - 105*time.Millisecond)
		n.Heal()

		e := <-done
		require.NoError(t, e.err)
		require.Equal(t, 5460*time.Millisecond, e.at)
		require.False(t, e.res.Booked)
		require.Equal(t, "car", e.res.Failed)
		require.ErrorIs(t, e.res.Cause, context.DeadlineExceeded)
		require.Equal(t, []string{"car", "hotel", "flight"}, e.res.Compensated)

		time.Sleep(time.Minute)
		require.Equal(t, []string{
			"30ms flight/book t1 200", "70ms hotel/book t1 200",
			"5.41s car/cancel t1 200", "5.43s hotel/cancel t1 200", "5.45s flight/cancel t1 200",
			"6.31s car/book t1 409",
		}, log.get())
		require.Empty(t, w.booked("t1"))
		require.NoError(t, ledger.Check())
	})
}
