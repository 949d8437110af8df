// Package lease is headwind's example of a lease that a paused holder
// outlives: a lock server that grants a lease on one lock for a TTL, a
// storage that lease holders write to, and clients that take the lease
// and write under it. It is the scenario of Martin Kleppmann's "How to do
// distributed locking": a holder checks that its lease is still valid,
// then stops (a GC pause, a stopped VM) before its write leaves; the
// lease expires, the lock server grants it to another client, which
// writes; then the first holder's write arrives and overwrites it.
//
// The fix is a fencing token: the lock server numbers its grants, every
// write carries its holder's number, and the storage refuses a write
// whose token is older than the newest it has seen ("STALE <newest>").
//
//	lock, _ := lease.NewLockServer(lease.LockConfig{TTL: time.Second})
//	go lock.Serve(ctx, lockListener)
//	go lease.NewStorage(lease.StorageConfig{}).Serve(ctx, storeListener)
//	c, _ := lease.NewClient(lease.ClientConfig{Name: "c1", Lock: "lock:80", Storage: "store:80", Dial: dial})
//	token, until, err := c.Acquire(ctx) // until: by the client's clock
//	err = c.Write(ctx, token, "v1")      // ErrStale once another holder wrote
//
// # The protocol
//
// One request per line, one answer per line:
//
//	ACQUIRE <client>                  ->  GRANTED <token> <ttl ns> | BUSY <ns left>
//	WRITE <token> <client> <value>    ->  OK | STALE <newest token>
//
// # How the tests prove it
//
// TestFencing (fencing_test.go) is a harness.Check property: the lock
// server and the storage run as harness services on their hosts, two
// clients take the lease in turn and write under it, and the case draws
// when one client's host pauses (harness.T.Pause: netsim holds its
// traffic both ways, as the network sees a stopped process) and for how
// long. Every write the storage accepts must carry a token at least as
// new as every write it accepted before. The buggy twin,
// StorageConfig.NoFencing, accepts every write; TestCheckCatchesStaleWrite
// runs it in a subprocess and asserts that Check finds a stale holder's
// write accepted after the next holder's (in 11 to 39 cases over rapid
// seeds 1 to 5). To see the report:
//
//	HEADWIND_TWIN=no-fencing go test ./examples/lease -run TestTwinNoFencing -rapid.nofailfile
//
// # Time
//
// The package takes time from package time only: leases, timeouts and
// the clients' checks run on virtual time inside a testing/synctest
// bubble. A client counts its lease from the instant it sent ACQUIRE,
// which is no later than the server's grant; the server's clock decides
// when the lease ends.
//
// # Limits
//
// A request or answer is at most MaxLine bytes. A client makes one
// request at a time on one connection per server, each within
// ClientConfig.Timeout; a server serves every connection it accepts, one
// goroutine each, until its context is done.
//
// # Errors
//
// Acquire returns an error wrapping ErrBusy while another client holds
// the lease; Write one wrapping ErrStale when the storage refuses its
// token. After a timeout or a network error the outcome of a Write is
// unknown: it may still arrive, which is what fencing is for. An invalid
// config is an error naming the field and its range.
package lease
