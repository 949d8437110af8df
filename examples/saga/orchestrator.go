package saga

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Defaults of Orchestrator's fields.
const (
	DefaultTimeout    = time.Second
	DefaultAttempts   = 3
	DefaultBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff = time.Second
	DefaultBudget     = 5 * time.Second
)

// Step is one booking of the saga: a Service reached at URL.
type Step struct {
	// Name is the service's name, used in ledger keys; it must match the
	// Service's Name.
	Name string
	// URL is the service's base URL, such as "http://flight"; the
	// orchestrator posts to URL+"/book" and URL+"/cancel".
	URL string
}

// Orchestrator runs the trip-booking saga: it books each Step in order,
// and if one cannot be booked, cancels in reverse order every step it
// booked or may have booked, so that a trip ends with every booking made
// or none.
//
// A book is tried up to Attempts times, each bounded by Timeout, with
// Backoff between attempts (doubling up to MaxBackoff), all within the
// trip's Budget. A 409 answer is a refusal and final. When the attempts
// or the budget run out, the outcome is unknown (the service may have
// booked it, and a delayed request may still arrive), so that step is
// cancelled too. A cancel is retried, with the same backoff, until a
// service acknowledges it or the context of BookTrip is done: a
// compensation must not be given up on. Its attempts grow more patient,
// each timeout double the one before up to MaxTimeout, so that a network
// too slow for Timeout still lets it through.
//
// Every request carries the trip's ID as its idempotency key, so retries
// are harmless. Set the fields before first use; the zero value needs
// Client and Steps. An Orchestrator is safe for concurrent use on
// different trips.
type Orchestrator struct {
	// Client sends the requests; its Transport dials the services.
	// Required. Its Timeout should be zero: Timeout bounds each attempt.
	Client *http.Client
	// Steps are booked in order and compensated in reverse.
	Steps []Step
	// Timeout bounds each attempt at a book and the first at a cancel;
	// zero means DefaultTimeout.
	Timeout time.Duration
	// MaxTimeout caps the growing timeout of a cancel's attempts; zero
	// means 8 times Timeout.
	MaxTimeout time.Duration
	// Attempts is the most attempts at each book; zero means
	// DefaultAttempts.
	Attempts int
	// Backoff is the wait after a failed attempt, doubled after each
	// further one up to MaxBackoff; zero means DefaultBackoff.
	Backoff time.Duration
	// MaxBackoff caps the wait between attempts; zero means
	// DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Budget bounds the booking of a whole trip (not its compensation);
	// zero means DefaultBudget.
	Budget time.Duration
	// Ledger, if not nil, gets an Issue for every book and cancel
	// started, an Ack for every one acknowledged and a Reject for every
	// refused book.
	Ledger Ledger
}

// Result is how a trip's saga ended.
type Result struct {
	Trip string
	// Booked is true when every step was booked.
	Booked bool
	// Failed is the step that could not be booked, "" if Booked.
	Failed string
	// Cause is why Failed failed: ErrRefused, or the last attempt's error.
	Cause error
	// Compensated lists the steps cancelled, in the order they were
	// acknowledged.
	Compensated []string
}

// ErrRefused is the Cause of a saga whose step was refused (409).
var ErrRefused = errors.New("saga: booking refused")

// outcome is what became of one book.
type outcome int

const (
	done    outcome = iota // booked
	refusal                // refused: nothing to compensate
	unsure                 // no answer: may have been booked
)

// BookTrip runs the saga for trip and blocks until it has ended: every
// step booked, or the failed step's predecessors (and the failed step
// itself, unless refused) cancelled and acknowledged. Its error is nil
// then, whatever the Result; it is non-nil only when ctx was done before
// every compensation was acknowledged, and says which were not: the trip
// may then be partly booked, and the caller must resume compensating.
func (o *Orchestrator) BookTrip(ctx context.Context, trip string) (Result, error) {
	res := Result{Trip: trip}
	fwd, cancel := context.WithTimeout(ctx, o.budget())
	defer cancel()
	var toCancel []Step
	for _, st := range o.Steps {
		out, err := o.book(fwd, st, trip)
		if out == done {
			toCancel = append(toCancel, st)
			continue
		}
		if out == unsure {
			toCancel = append(toCancel, st)
		}
		res.Failed, res.Cause = st.Name, err
		break
	}
	if res.Failed == "" {
		res.Booked = true
		return res, nil
	}
	for i := len(toCancel) - 1; i >= 0; i-- {
		st := toCancel[i]
		if err := o.cancel(ctx, st, trip); err != nil {
			var left []string
			for _, s := range toCancel[:i+1] {
				left = append(left, s.Name)
			}
			return res, fmt.Errorf("saga: trip %s: compensation of %v not acknowledged: %w", trip, left, err)
		}
		res.Compensated = append(res.Compensated, st.Name)
	}
	return res, nil
}

// book books trip at st, retrying as the Orchestrator's doc says.
func (o *Orchestrator) book(ctx context.Context, st Step, trip string) (outcome, error) {
	key := BookKey(st.Name, trip)
	o.issue(key)
	wait := o.backoff()
	for attempt := 1; ; attempt++ {
		code, err := o.post(ctx, st.URL+"/book", trip, o.timeout())
		switch {
		case err == nil && code == http.StatusOK:
			o.ack(key)
			return done, nil
		case err == nil && code == http.StatusConflict:
			if o.Ledger != nil {
				o.Ledger.Reject(key)
			}
			return refusal, fmt.Errorf("%w: %s: trip %s", ErrRefused, st.Name, trip)
		case err == nil && code < 500:
			return unsure, fmt.Errorf("saga: %s: book %s: unexpected status %d", st.Name, trip, code)
		case err == nil:
			err = fmt.Errorf("saga: %s: book %s: server error %d", st.Name, trip, code)
		}
		if attempt >= o.attempts() {
			return unsure, err
		}
		if !sleep(ctx, wait) {
			return unsure, err
		}
		wait = min(2*wait, o.maxBackoff())
	}
}

// cancel cancels trip at st, retrying until acknowledged or ctx is done.
func (o *Orchestrator) cancel(ctx context.Context, st Step, trip string) error {
	key := CancelKey(st.Name, trip)
	o.issue(key)
	wait, timeout := o.backoff(), o.timeout()
	for {
		code, err := o.post(ctx, st.URL+"/cancel", trip, timeout)
		if err == nil && code == http.StatusOK {
			o.ack(key)
			return nil
		}
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, o.maxBackoff())
		timeout = min(2*timeout, o.maxTimeout())
	}
}

// post makes one attempt, bounded by timeout, and returns the status.
func (o *Orchestrator) post(ctx context.Context, url, trip string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(KeyHeader, trip)
	resp, err := o.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Read the (short) body, so that the connection can be reused; a
	// failure here is a failure of the attempt.
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// sleep waits d, or until ctx is done; it reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (o *Orchestrator) issue(key string) {
	if o.Ledger != nil {
		o.Ledger.Issue(key)
	}
}

func (o *Orchestrator) ack(key string) {
	if o.Ledger != nil {
		o.Ledger.Ack(key)
	}
}

func (o *Orchestrator) timeout() time.Duration    { return orDefault(o.Timeout, DefaultTimeout) }
func (o *Orchestrator) backoff() time.Duration    { return orDefault(o.Backoff, DefaultBackoff) }
func (o *Orchestrator) maxBackoff() time.Duration { return orDefault(o.MaxBackoff, DefaultMaxBackoff) }
func (o *Orchestrator) budget() time.Duration     { return orDefault(o.Budget, DefaultBudget) }

func (o *Orchestrator) maxTimeout() time.Duration {
	if o.MaxTimeout > 0 {
		return o.MaxTimeout
	}
	return 8 * o.timeout()
}

func (o *Orchestrator) attempts() int {
	if o.Attempts > 0 {
		return o.Attempts
	}
	return DefaultAttempts
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
