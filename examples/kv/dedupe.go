package kv

import "time"

// dedupe is the bounded table of serials the server has applied, with the
// request and the answer of each, oldest first. It forgets an entry when
// the table is full and a new one comes (eviction) and when the entry has
// been there for the expiry (expiry); either way the horizon moves up to
// the forgotten entry's date, and a serial not in the table that is dated
// at or before the horizon is refused, because it may have been applied
// and forgotten.
//
// The invariant, which makes "never applied twice" hold with bounded
// memory: every serial ever applied is in the table, or dated at or
// before the horizon.
//
// A dedupe is not safe for concurrent use; the server guards it with its
// lock.
type dedupe struct {
	capacity int
	expiry   time.Duration

	byID    map[string]*entry
	ring    []*entry // oldest first from head; len(ring) == capacity
	head, n int
	horizon time.Time // the latest date of any forgotten entry

	evicted, expired int64
}

type entry struct {
	id       string
	date     time.Time // the serial's date
	added    time.Time // when it was applied, by the server's clock
	request  string    // the request line, to tell a retry from a conflict
	response string    // the answer every retry gets
}

func newDedupe(capacity int, expiry time.Duration) *dedupe {
	return &dedupe{capacity: capacity, expiry: expiry, byID: make(map[string]*entry, capacity), ring: make([]*entry, capacity)}
}

// lookup returns the entry of id, after forgetting the entries that
// expired by now.
func (d *dedupe) lookup(id string, now time.Time) (*entry, bool) {
	for d.n > 0 && !now.Before(d.ring[d.head].added.Add(d.expiry)) {
		d.forgetOldest()
		d.expired++
	}
	e, ok := d.byID[id]
	return e, ok
}

// forgotten reports whether a serial not in the table, dated date, may
// have been applied and forgotten.
func (d *dedupe) forgotten(date time.Time) bool { return !date.After(d.horizon) }

// add records an applied request, evicting the oldest entry if the table
// is full.
func (d *dedupe) add(e *entry) {
	if d.n == d.capacity {
		d.forgetOldest()
		d.evicted++
	}
	d.ring[(d.head+d.n)%d.capacity] = e
	d.n++
	d.byID[e.id] = e
}

func (d *dedupe) forgetOldest() {
	e := d.ring[d.head]
	d.ring[d.head] = nil
	d.head = (d.head + 1) % d.capacity
	d.n--
	delete(d.byID, e.id)
	if e.date.After(d.horizon) {
		d.horizon = e.date
	}
}
