package harness

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// The limits of a host's Store: the defaults where Service leaves them
// zero, and the largest values Service accepts.
const (
	DefaultMaxRecords = 1 << 14 // records per host
	DefaultMaxBytes   = 1 << 22 // bytes per host (4 MiB), summed over the records
	MaxStoreRecords   = 1 << 20
	MaxStoreBytes     = 1 << 28 // 256 MiB
)

// ErrCrashed is what a Store's methods return (wrapped, with the host's
// name) once the incarnation of the host that opened it has crashed: the
// code that would call them after a crash would never have run.
var ErrCrashed = errors.New("harness: the store's host crashed")

// A Store is the durable storage of one host's service: an append-only
// log of records, like a write-ahead log on a disk. Append adds a record
// to the log; Sync makes every record appended so far durable, as fsync
// does. When the host crashes, the records synced survive, and of the
// records appended since the last Sync a prefix survives, as much as the
// crash's Loss leaves (none, some or all of them: the kernel may have
// written some back before the power went). The restarted service finds
// the survivors in Records.
//
// Each incarnation of a host gets its own Store value, over the same log:
// once its host has crashed, a Store from before the crash fails every
// call with ErrCrashed, so a goroutine of the crashed service that
// outlived it cannot write into the next incarnation's log.
//
// A store holds at most Service.MaxRecords records of at most
// Service.MaxBytes bytes in all; an Append beyond them is refused with an
// error naming the limit. A Store is safe for concurrent use.
type Store struct {
	d    *disk
	boot int // the incarnation of the host the store belongs to
}

// disk is the log a host's stores share, across its incarnations.
type disk struct {
	host                 string
	maxRecords, maxBytes int

	mu      sync.Mutex // guards the fields below
	records [][]byte
	synced  int  // records[:synced] are durable
	bytes   int  // the sum of the records' lengths
	boot    int  // the current incarnation; stores of older ones are dead
	down    bool // the host is crashed: its store reads but does not write
}

// Append adds a copy of rec at the end of the log. It is durable only
// once Sync returns. Append fails after the host's crash (ErrCrashed)
// and when the record would take the log beyond Service.MaxRecords or
// Service.MaxBytes. It does not block.
func (s *Store) Append(rec []byte) error {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	if len(d.records) >= d.maxRecords {
		return fmt.Errorf("harness: store of host %q: Service.MaxRecords %d reached: a record of %d bytes refused", d.host, d.maxRecords, len(rec))
	}
	if len(rec) > d.maxBytes-d.bytes {
		return fmt.Errorf("harness: store of host %q: Service.MaxBytes %d: a record of %d bytes refused, %d bytes stored", d.host, d.maxBytes, len(rec), d.bytes)
	}
	d.records = append(d.records, slices.Clone(rec))
	d.bytes += len(rec)
	return nil
}

// Sync makes every record appended so far durable: a crash after Sync
// returns keeps them all. It fails after the host's crash (ErrCrashed).
// It does not block.
func (s *Store) Sync() error {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	d.synced = len(d.records)
	return nil
}

// Records returns copies of the log's records, oldest first: those that
// survived the host's crashes, then those appended since its last
// restart, synced or not. It fails once the host has crashed since the
// store was opened (ErrCrashed).
func (s *Store) Records() ([][]byte, error) {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.boot != d.boot {
		return nil, fmt.Errorf("harness: store of host %q: %w (the store of boot %d; the host has booted %d times)", d.host, ErrCrashed, s.boot, d.boot)
	}
	out := make([][]byte, len(d.records))
	for i, r := range d.records {
		out[i] = slices.Clone(r)
	}
	return out, nil
}

// writable reports why s cannot write, if it cannot; d.mu is held.
func (s *Store) writable() error {
	d := s.d
	switch {
	case s.boot != d.boot:
		return fmt.Errorf("harness: store of host %q: %w (the store of boot %d; the host has booted %d times)", d.host, ErrCrashed, s.boot, d.boot)
	case d.down:
		return fmt.Errorf("harness: store of host %q: %w (it is down until Restart)", d.host, ErrCrashed)
	}
	return nil
}

// Loss is the fraction of a store's unsynced records that a crash loses,
// the newest first, in [0,1]: of n records appended since the last Sync,
// a crash loses the newest ⌈Loss·n⌉ and keeps the others. LoseNone is a
// process crash (the kernel's page cache survives it), LoseAll a power
// cut before any write-back, a value between a power cut after some.
type Loss float64

// The ends of Loss's range.
const (
	LoseNone Loss = 0
	LoseAll  Loss = 1
)

func (l Loss) validate() error {
	if !(l >= 0 && l <= 1) { // NaN fails too
		return fmt.Errorf("harness: Loss %v out of range [0,1]", float64(l))
	}
	return nil
}

// lost is how many of n unsynced records l loses.
func (l Loss) lost(n int) int {
	return min(n, int(math.Ceil(float64(l)*float64(n))))
}

// drawLoss is the Loss of crash number crash (from 0) of host in a case
// whose network seed is seed: none, all, or a fraction between, each a
// third of the time. Like the network's fates, it depends only on the
// seed, so a case replays it.
func drawLoss(seed uint64, host string, crash int) Loss {
	h := fnv.New64a()
	h.Write([]byte(host))
	r := rand.New(rand.NewPCG(seed, h.Sum64()+uint64(crash)))
	switch r.IntN(3) {
	case 0:
		return LoseNone
	case 1:
		return LoseAll
	}
	return Loss(r.Float64())
}

// crash applies a crash to the log: the unsynced records beyond what loss
// keeps are gone, the survivors are durable, the current store is dead
// and the host's next store is read-only until reopen. It returns how
// many records were unsynced and how many of them survived.
func (d *disk) crash(loss Loss) (unsynced, kept int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	unsynced = len(d.records) - d.synced
	kept = unsynced - loss.lost(unsynced)
	for _, r := range d.records[d.synced+kept:] {
		d.bytes -= len(r)
	}
	clear(d.records[d.synced+kept:])
	d.records = d.records[:d.synced+kept]
	d.synced = len(d.records)
	d.boot++
	d.down = true
	return unsynced, kept
}

// setDown marks the log's host crashed, until reopen.
func (d *disk) setDown() {
	d.mu.Lock()
	d.down = true
	d.mu.Unlock()
}

// open returns the store of the host's current incarnation, writable
// once the host is up (see reopen).
func (d *disk) open() *Store {
	d.mu.Lock()
	defer d.mu.Unlock()
	return &Store{d: d, boot: d.boot}
}

// reopen makes the log writable again after a crash, for the restarted
// incarnation, and returns its store and how many records it holds.
func (d *disk) reopen() (*Store, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = false
	return &Store{d: d, boot: d.boot}, len(d.records)
}
