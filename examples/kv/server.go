package kv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"sync"
	"time"
)

// Defaults of the server's limits, used where Config leaves them zero.
const (
	DefaultCapacity    = 1024
	DefaultExpiry      = time.Minute
	DefaultMaxSkew     = time.Second
	DefaultMaxConns    = 256
	DefaultIdleTimeout = time.Minute
)

// Config describes a Server. The zero value is an idempotent server with
// the default limits.
type Config struct {
	// Capacity is the most serials the dedupe table remembers; when it is
	// full, a new serial evicts the oldest. Zero means DefaultCapacity.
	//
	// A repeat of a forgotten serial is refused with "ERR <id> expired",
	// never applied again: the server refuses every serial that is not in
	// the table and is dated at or before the latest date it has forgotten
	// (the horizon). That also refuses a request that was never applied
	// when it arrives after a younger one was forgotten, because the
	// server cannot tell the two apart. Size Capacity above the number of
	// requests that arrive within Expiry, so that only requests older than
	// Expiry are refused.
	Capacity int
	// Expiry is how long a serial stays in the table after it was applied;
	// at that instant it is forgotten, as if evicted. Zero means
	// DefaultExpiry. Clients should give up on a request sooner.
	Expiry time.Duration
	// MaxSkew is how far a request's date may be ahead of the server's
	// clock; a request dated further ahead is refused with "ERR <id>
	// skew", so that one bad clock cannot push the horizon into the
	// future. Zero means DefaultMaxSkew.
	MaxSkew time.Duration
	// MaxConns is the most connections served at once; beyond it the
	// server stops accepting, and new connections wait in the listener's
	// backlog. Zero means DefaultMaxConns.
	MaxConns int
	// IdleTimeout closes a connection on which no request arrives, or
	// whose answer cannot be written, for this long. Zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// NoDedupe turns the dedupe table off: every request is applied,
	// retries included. It makes the buggy twin that charges a retried
	// payment twice, which the tests must catch; never set it otherwise.
	NoDedupe bool
	// Journal, if not nil, makes the server durable: every PUT and CHARGE
	// is written to it and synced before the server applies it and
	// answers, and NewServer reads it back (see Journal). A request the
	// journal fails to take is answered "ERR <id> unavailable". Without a
	// Journal, a restarted server has forgotten everything.
	Journal Journal
	// ForgetSerials makes the buggy twin of a durable server: it reloads
	// the values and balances from the Journal but not the serials, so its
	// dedupe table lives in memory only, and a retry that reaches it after
	// a restart is applied again. The tests must catch it; never set it
	// otherwise.
	ForgetSerials bool
	// OnApply, if not nil, is called with the serial's ID each time the
	// server carries out a PUT or a CHARGE, with the server's lock held
	// (it must not call the Server). Tests feed a harness.Ledger with it.
	OnApply func(id string)
}

// Validate reports every problem of c in one error, each naming the field,
// the value and the valid range.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int64
		unit string
	}{
		{"Capacity", int64(c.Capacity), ""},
		{"MaxConns", int64(c.MaxConns), ""},
		{"Expiry", int64(c.Expiry), "d"},
		{"MaxSkew", int64(c.MaxSkew), "d"},
		{"IdleTimeout", int64(c.IdleTimeout), "d"},
	} {
		if f.v < 0 {
			v := strconv.FormatInt(f.v, 10)
			if f.unit == "d" {
				v = time.Duration(f.v).String()
			}
			errs = append(errs, fmt.Errorf("kv: Config.%s %s out of range [0,∞) (0 means the default)", f.name, v))
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Capacity == 0 {
		c.Capacity = DefaultCapacity
	}
	if c.Expiry == 0 {
		c.Expiry = DefaultExpiry
	}
	if c.MaxSkew == 0 {
		c.MaxSkew = DefaultMaxSkew
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("kv: server closed")

// Server is an idempotent key-value and payment server: it applies each
// PUT and CHARGE once per serial, answers repeats from its bounded dedupe
// table, and refuses repeats it has forgotten (see Config.Capacity). It
// serves the protocol described in the package documentation on any
// number of listeners. A Server is safe for concurrent use.
type Server struct {
	cfg   Config
	slots chan struct{} // one token per connection being served; cap MaxConns
	done  chan struct{} // closed by Close

	mu       sync.Mutex // guards the fields below; never held while blocking
	closed   bool
	values   map[string]string
	balances map[string]int64
	table    *dedupe // nil with NoDedupe
	stats    Stats
	lns      map[net.Listener]struct{}
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup // Serve loops and connection handlers
}

// Stats counts what a Server did.
type Stats struct {
	Applied   int64     // PUTs and CHARGEs carried out
	Replayed  int64     // repeats answered from the dedupe table
	Refused   int64     // requests refused as expired
	Conflicts int64     // serials reused for a different request
	Evicted   int64     // entries evicted from the full table
	Expired   int64     // entries forgotten after Expiry
	Entries   int       // entries in the table now, at most Capacity
	Horizon   time.Time // the latest date forgotten; zero if none
}

// NewServer returns a server with an empty store and dedupe table, or,
// with a Config.Journal, the state the journal records. It fails, naming
// the field, when cfg is invalid, and when the journal cannot be read.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:      cfg,
		slots:    make(chan struct{}, cfg.MaxConns),
		done:     make(chan struct{}),
		values:   make(map[string]string),
		balances: make(map[string]int64),
		lns:      make(map[net.Listener]struct{}),
		conns:    make(map[net.Conn]struct{}),
	}
	if !cfg.NoDedupe {
		s.table = newDedupe(cfg.Capacity, cfg.Expiry)
	}
	if cfg.Journal != nil {
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Serve accepts connections on ln and serves each in its own goroutine,
// at most Config.MaxConns at once. It blocks until ln fails or Close is
// called, and returns ln's error, or ErrServerClosed after Close. Serve
// does not close ln when ln fails; Close closes it.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.done:
			return ErrServerClosed
		}
		c, err := ln.Accept()
		if err != nil {
			<-s.slots
			if s.isClosed() {
				return ErrServerClosed
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			<-s.slots
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Close closes every listener and connection being served and waits for
// their goroutines to return. It is idempotent; the store and the table
// stay readable (Balance, Value, Stats, Exec).
func (s *Server) Close() error {
	s.mu.Lock()
	var closers []io.Closer
	if !s.closed {
		s.closed = true
		close(s.done)
		for ln := range s.lns {
			closers = append(closers, ln)
		}
		for c := range s.conns {
			closers = append(closers, c)
		}
	}
	s.mu.Unlock()
	for _, c := range closers {
		c.Close()
	}
	s.wg.Wait()
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// serveConn answers the requests of one connection, one line at a time,
// until the client closes it, an error, IdleTimeout, or Close.
func (s *Server) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		<-s.slots
		s.wg.Done()
	}()
	r := bufio.NewReaderSize(c, MaxLine)
	for {
		c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		line, err := r.ReadSlice('\n')
		tooLong := err == bufio.ErrBufferFull
		var answer string
		switch {
		case tooLong:
			answer = errLine("", codeBad, fmt.Sprintf("line longer than %d bytes", MaxLine))
		case err != nil:
			return // EOF, reset, timeout, Close; a partial line is dropped
		default:
			answer = s.Exec(string(line[:len(line)-1]))
		}
		c.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout))
		if _, err := io.WriteString(c, answer+"\n"); err != nil || tooLong {
			return
		}
	}
}

// Exec carries out one request line (without its newline) and returns the
// answer line (without its newline), exactly as the server does for each
// line it reads. It does not block, except on the server's lock.
func (s *Server) Exec(line string) string {
	r, err := parseRequest(line)
	if err != nil {
		return errLine(r.id, codeBad, err.Error())
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.verb == verbGet {
		// A read has no effect: it is answered afresh every time.
		v, ok := s.values[r.key]
		if !ok {
			return "NOTFOUND " + r.id
		}
		return "VALUE " + r.id + " " + v
	}
	if r.date.After(now.Add(s.cfg.MaxSkew)) {
		return errLine(r.id, codeSkew, fmt.Sprintf("dated %v ahead of the server's clock (Config.MaxSkew %v)", r.date.Sub(now), s.cfg.MaxSkew))
	}
	if s.table != nil {
		if e, ok := s.table.lookup(r.id, now); ok {
			if e.request != line {
				s.stats.Conflicts++
				return errLine(r.id, codeConflict, "serial used before for: "+e.request)
			}
			s.stats.Replayed++
			return e.response
		}
		if s.table.forgotten(r.date) {
			s.stats.Refused++
			return errLine(r.id, codeExpired, "not in the dedupe table and dated at or before its horizon "+formatDate(s.table.horizon)+": it may have been applied and forgotten")
		}
	}
	var answer string
	switch r.verb {
	case verbPut:
		answer = "OK " + r.id
	case verbCharge:
		b := s.balances[r.key]
		if b > math.MaxInt64-r.cents {
			return errLine(r.id, codeBad, "the account's total would overflow")
		}
		answer = fmt.Sprintf("OK %s %d", r.id, b+r.cents)
	}
	if j := s.cfg.Journal; j != nil {
		// Durable before it is applied or answered: a crash from here on
		// either keeps the record, and the restarted server answers a
		// retry from it, or loses it, and the request was never applied.
		err := j.Append(encodeJournal(now, line, answer))
		if err == nil {
			err = j.Sync()
		}
		if err != nil {
			return errLine(r.id, codeUnavailable, "the journal failed: "+err.Error())
		}
	}
	s.apply(r)
	s.stats.Applied++
	if s.cfg.OnApply != nil {
		s.cfg.OnApply(r.id)
	}
	if s.table != nil {
		s.table.add(&entry{id: r.id, date: r.date, added: now, request: line, response: answer})
	}
	return answer
}

// apply carries out a PUT or a CHARGE on the server's state; s.mu is held
// (or the server is not yet shared).
func (s *Server) apply(r request) {
	switch r.verb {
	case verbPut:
		s.values[r.key] = r.value
	case verbCharge:
		s.balances[r.key] += r.cents
	}
}

// Balance returns the total charged to account so far.
func (s *Server) Balance(account string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.balances[account]
}

// Value returns the value of key, and whether it is set.
func (s *Server) Value(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[key]
	return v, ok
}

// Stats returns the server's counters and the state of its dedupe table
// (after forgetting the entries that expired by now).
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	if s.table != nil {
		s.table.lookup("", time.Now())
		st.Evicted, st.Expired = s.table.evicted, s.table.expired
		st.Entries, st.Horizon = s.table.n, s.table.horizon
	}
	return st
}
