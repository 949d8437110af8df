package harness

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Ledger does exactly-once accounting in the spirit of double-entry
// bookkeeping: the client side records what it Issues and what it was told
// (Ack, Reject), the server side what it Applies, and Check balances the
// books. Keys are the requests' idempotency keys (serial numbers).
//
// The zero value is an empty ledger ready to use. A Ledger is safe for
// concurrent use; record from any goroutine, and Check once the run is
// over.
type Ledger struct {
	// Limit is the most distinct keys the ledger records, >= 0; zero
	// means DefaultLedgerLimit. Records of keys beyond it are counted, not
	// kept, and Check then fails: a ledger that lost track proves nothing.
	// A negative Limit keeps nothing, and Check reports it as out of range.
	Limit int

	mu       sync.Mutex // guards the fields below
	entries  map[string]*entry
	overflow int // records of keys beyond Limit
}

// DefaultLedgerLimit is the number of keys a Ledger records when its Limit
// is zero.
const DefaultLedgerLimit = 1 << 20

type entry struct {
	issued, applied, acked, rejected int
	appliedAfterReject               bool
}

// get returns the entry of key, or a scratch entry (counted as overflow)
// when the ledger is full.
func (l *Ledger) get(key string) *entry {
	if l.entries == nil {
		l.entries = make(map[string]*entry)
	}
	e, ok := l.entries[key]
	if !ok {
		if len(l.entries) >= cmp.Or(l.Limit, DefaultLedgerLimit) {
			l.overflow++
			return &entry{}
		}
		e = &entry{}
		l.entries[key] = e
	}
	return e
}

// Issue records that the client sent the request key for the first time
// (retries of the same key are not issues).
func (l *Ledger) Issue(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.get(key).issued++
}

// Apply records that the server carried out the effect of key (charged the
// card, wrote the row). Exactly once is the point: a second Apply of the
// same key is a violation.
func (l *Ledger) Apply(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.get(key)
	e.applied++
	if e.rejected > 0 {
		e.appliedAfterReject = true
	}
}

// Ack records that the client was told key succeeded.
func (l *Ledger) Ack(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.get(key).acked++
}

// Reject records that the client was told key was refused (backpressure,
// validation): it must never be applied.
func (l *Ledger) Reject(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.get(key)
	e.rejected++
	if e.applied > 0 {
		e.appliedAfterReject = true
	}
}

// LedgerCounts summarizes a ledger.
type LedgerCounts struct {
	Keys     int // distinct keys seen
	Issued   int // keys issued
	Applied  int // keys applied at least once
	Acked    int // keys acknowledged
	Rejected int // keys rejected
	// Unresolved counts keys issued but neither acknowledged nor rejected:
	// the client gave up. Not a violation, but worth a look.
	Unresolved int
}

// Counts returns the ledger's totals.
func (l *Ledger) Counts() LedgerCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	var c LedgerCounts
	for _, e := range l.entries {
		c.Keys++
		if e.issued > 0 {
			c.Issued++
		}
		if e.applied > 0 {
			c.Applied++
		}
		if e.acked > 0 {
			c.Acked++
		}
		if e.rejected > 0 {
			c.Rejected++
		}
		if e.issued > 0 && e.acked == 0 && e.rejected == 0 {
			c.Unresolved++
		}
	}
	return c
}

// Check balances the books. It returns nil, or one error listing every
// violation with its key, keys in sorted order (the same on every replay,
// however the clients were scheduled):
//
//   - applied more than once (a retry was carried out twice);
//   - acknowledged but never applied (the client was lied to);
//   - applied but never issued (an effect out of nowhere);
//   - applied although rejected (the client was told no, and it happened).
//
// Issued but never acknowledged is not a violation (the client gave up);
// Counts reports how many. A negative Limit is reported instead of the
// books, which it kept from being written.
func (l *Ledger) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Limit < 0 {
		return fmt.Errorf("harness: Ledger.Limit %d out of range [0,∞) (0 means %d)", l.Limit, DefaultLedgerLimit)
	}
	var errs []error
	if l.overflow > 0 {
		errs = append(errs, fmt.Errorf("%d records of keys beyond the ledger's Limit of %d were not kept", l.overflow, cmp.Or(l.Limit, DefaultLedgerLimit)))
	}
	// Keys in sorted order: the order they were first seen in is the
	// scheduler's when clients run in parallel, and a report must read
	// the same on every replay.
	for _, k := range slices.Sorted(maps.Keys(l.entries)) {
		e := l.entries[k]
		if e.applied > 1 {
			errs = append(errs, fmt.Errorf("key %q applied %d times (want at most once)", k, e.applied))
		}
		if e.acked > 0 && e.applied == 0 {
			errs = append(errs, fmt.Errorf("key %q acknowledged but never applied", k))
		}
		if e.applied > 0 && e.issued == 0 {
			errs = append(errs, fmt.Errorf("key %q applied but never issued", k))
		}
		if e.appliedAfterReject {
			errs = append(errs, fmt.Errorf("key %q applied although it was rejected", k))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	noun := "violations"
	if len(errs) == 1 {
		noun = "violation"
	}
	return fmt.Errorf("harness: ledger: %d %s:\n%w", len(errs), noun, errors.Join(errs...))
}
