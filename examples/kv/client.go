package kv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of the client's timing, used where ClientConfig leaves them
// zero.
const (
	DefaultAttemptTimeout = time.Second
	DefaultTimeout        = 10 * time.Second
	DefaultBaseBackoff    = 50 * time.Millisecond
	DefaultMaxBackoff     = 2 * time.Second
)

// ClientConfig describes a Client. Name and Addr are required; the zero
// value of every other field means its default.
type ClientConfig struct {
	// Addr is the server's address, "host:port".
	Addr string
	// Dial connects to the server; netsim's Host.DialContext fits. Nil
	// means a net.Dialer's DialContext.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Name prefixes the IDs of the serials NewSerial writes, "Name-1",
	// "Name-2", …: it must be a token (printable ASCII, no spaces) unique
	// among the server's clients, past and present.
	Name string
	// Seed seeds the client's own random source, which jitters its
	// backoff. Zero is a seed like any other.
	Seed uint64
	// AttemptTimeout bounds each attempt: dialing if needed, sending the
	// request and reading the answer. Zero means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Timeout bounds each call, all its attempts and backoffs included
	// (the context's deadline, if earlier, wins). Zero means
	// DefaultTimeout.
	Timeout time.Duration
	// BaseBackoff and MaxBackoff shape the delays between attempts (see
	// Backoff). Zero means DefaultBaseBackoff and DefaultMaxBackoff.
	BaseBackoff, MaxBackoff time.Duration
	// MaxAttempts, when positive, is the most attempts per call. Zero
	// means as many as Timeout allows.
	MaxAttempts int
}

// Validate reports every problem of c in one error, each naming the field,
// the value and the valid range.
func (c ClientConfig) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New(`kv: ClientConfig.Addr "" is empty (want the server's "host:port")`))
	}
	if !token(c.Name) || len(c.Name) > 64 {
		errs = append(errs, fmt.Errorf("kv: ClientConfig.Name %q is not a valid name (want 1 to 64 printable ASCII characters, no spaces, unique among the server's clients)", c.Name))
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"AttemptTimeout", c.AttemptTimeout}, {"Timeout", c.Timeout}, {"BaseBackoff", c.BaseBackoff}, {"MaxBackoff", c.MaxBackoff}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("kv: ClientConfig.%s %v out of range [0,∞) (0 means the default)", f.name, f.v))
		}
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("kv: ClientConfig.MaxAttempts %d out of range [0,∞) (0 means no limit but Timeout)", c.MaxAttempts))
	}
	return errors.Join(errs...)
}

// Client calls a Server, retrying every request until it gets an answer:
// each attempt has AttemptTimeout, a failed attempt (a dial error, a
// timeout, a reset, a garbled answer) closes the connection and is retried
// after a Backoff delay with the same serial, and the call gives up with a
// *GaveUpError at Timeout, when its context ends, or after MaxAttempts.
//
// A Client keeps one connection and makes one call at a time: concurrent
// calls wait for each other. Use one Client per concurrent caller. A
// Client is safe for concurrent use.
type Client struct {
	cfg  ClientConfig
	slot chan struct{} // cap 1: held by the call in progress, which alone uses backoff and r

	backoff *Backoff
	r       *bufio.Reader // reads conn

	mu     sync.Mutex // guards the fields below
	conn   net.Conn   // nil until dialed, and after a failed attempt
	closed bool
	next   int64 // the number of the last serial written
}

// NewClient returns a client of the server at cfg.Addr. It does not dial
// until the first call. It fails, naming the field, when cfg is invalid.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	return &Client{cfg: cfg, slot: make(chan struct{}, 1), backoff: NewBackoff(cfg.BaseBackoff, cfg.MaxBackoff, cfg.Seed)}, nil
}

// NewSerial writes the next serial: ID "Name-n" (n counts from 1) and
// Date now. Write it once per request, before the first call, and pass
// the same serial to every call that retries the request.
func (c *Client) NewSerial() Serial {
	c.mu.Lock()
	c.next++
	n := c.next
	c.mu.Unlock()
	return Serial{ID: c.cfg.Name + "-" + strconv.FormatInt(n, 10), Date: time.Now().Round(0)}
}

// Charge charges cents (positive) to account, once per serial however
// often it is retried, and returns the account's total right after that
// charge (a repeat gets the same total). A *RefusedError says the server
// refused it; a *GaveUpError that the client gave up, not knowing whether
// the charge was applied. It blocks until then.
func (c *Client) Charge(ctx context.Context, s Serial, account string, cents int64) (total int64, err error) {
	op := verbCharge + " " + s.ID
	if err := checkArgs(op, s, "account", account); err != nil {
		return 0, err
	}
	if cents <= 0 {
		return 0, fmt.Errorf("kv: %s: cents %d is not positive", op, cents)
	}
	f, err := c.do(ctx, op, s.ID, fmt.Sprintf("%s %s %s %s %d", verbCharge, s.ID, formatDate(s.Date), account, cents), checkCharge)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(f[2], 10, 64) // checked by checkCharge
}

// Put sets key to value (tokens), once per serial however often it is
// retried. Its errors are Charge's.
func (c *Client) Put(ctx context.Context, s Serial, key, value string) error {
	op := verbPut + " " + s.ID
	if err := checkArgs(op, s, "key", key, "value", value); err != nil {
		return err
	}
	_, err := c.do(ctx, op, s.ID, fmt.Sprintf("%s %s %s %s %s", verbPut, s.ID, formatDate(s.Date), key, value), checkPut)
	return err
}

// Get reads key: its value and whether it is set. A read has no effect,
// so it needs no serial of the caller's (the client numbers it to match
// the answer). Its errors are Charge's.
func (c *Client) Get(ctx context.Context, key string) (value string, found bool, err error) {
	id := c.NewSerial().ID
	op := verbGet + " " + id
	if !token(key) {
		return "", false, fmt.Errorf("kv: %s: key %q is not a token (1 or more printable ASCII characters, no spaces)", op, key)
	}
	f, err := c.do(ctx, op, id, verbGet+" "+id+" "+key, checkGet)
	if err != nil {
		return "", false, err
	}
	if f[0] == "NOTFOUND" {
		return "", false, nil
	}
	return f[2], true, nil
}

// Close closes the client's connection; a call in progress fails, and
// later calls fail at once. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	return nil
}

func checkArgs(op string, s Serial, nameValue ...string) error {
	if !token(s.ID) {
		return fmt.Errorf("kv: %s: serial ID %q is not a token (1 or more printable ASCII characters, no spaces)", op, s.ID)
	}
	if s.Date.IsZero() {
		return fmt.Errorf("kv: %s: serial %s has no date (write serials with Client.NewSerial)", op, s.ID)
	}
	for i := 0; i < len(nameValue); i += 2 {
		if !token(nameValue[i+1]) {
			return fmt.Errorf("kv: %s: %s %q is not a token (1 or more printable ASCII characters, no spaces)", op, nameValue[i], nameValue[i+1])
		}
	}
	return nil
}

// GaveUpError is the error of a call that stopped retrying: the request
// may or may not have been applied. It matches (errors.Is) its Err, when
// it has one, and the last attempt's error.
type GaveUpError struct {
	Op       string        // the request's verb and serial ID, e.g. "CHARGE pos1-7"
	Attempts int           // attempts made
	Elapsed  time.Duration // from the call to giving up
	Err      error         // why it stopped: the context's error, or nil when MaxAttempts ran out
	Last     error         // the last attempt's error; nil if it made none
}

func (e *GaveUpError) Error() string {
	why := "MaxAttempts reached"
	if e.Err != nil {
		why = e.Err.Error()
	}
	s := fmt.Sprintf("kv: %s: gave up after %d attempts in %v (%s)", e.Op, e.Attempts, e.Elapsed, why)
	if e.Last != nil {
		s += "; last attempt: " + e.Last.Error()
	}
	return s + "; it may or may not have been applied"
}

func (e *GaveUpError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Err, e.Last} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// do sends line until an attempt gets an answer that check accepts, and
// returns the answer's fields: the retry loop.
func (c *Client) do(ctx context.Context, op, id, line string, check func([]string) bool) ([]string, error) {
	if len(line)+1 > MaxLine {
		return nil, fmt.Errorf("kv: %s: request of %d bytes is longer than MaxLine (%d)", op, len(line)+1, MaxLine)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	gaveUp := func(attempts int, last error) error {
		return &GaveUpError{Op: op, Attempts: attempts, Elapsed: time.Since(start), Err: stopped(ctx), Last: last}
	}
	select {
	case c.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, gaveUp(0, nil)
	}
	defer func() { <-c.slot }()
	for attempt := 1; ; attempt++ {
		f, err := c.attempt(ctx, id, line, check)
		if err == nil {
			if f[0] == "ERR" {
				return nil, &RefusedError{Op: op, Code: f[2], Reason: f[3]}
			}
			return f, nil
		}
		if errors.Is(err, net.ErrClosed) && c.isClosed() {
			return nil, fmt.Errorf("kv: %s: client closed: %w", op, err)
		}
		if stopped(ctx) != nil || attempt == c.cfg.MaxAttempts {
			return nil, gaveUp(attempt, err)
		}
		wait := time.NewTimer(c.backoff.Delay(attempt))
		select {
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
		}
		if stopped(ctx) != nil {
			return nil, gaveUp(attempt, err)
		}
	}
}

// stopped returns why a call must stop: its context's error, or
// context.DeadlineExceeded from the very instant of its deadline. (When
// an attempt ends at that instant, the context's own timer may fire
// before or after it returns, as the scheduler picks; the clock decides
// the same way every time, so that the client never draws one backoff
// delay more on some runs, and a case replays exactly.)
func stopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// aLongTimeAgo is a deadline in the past, which interrupts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// attempt makes one attempt: a connection (the kept one, or a new one),
// the request, the answer. On any failure it closes the connection, so
// that a late answer cannot be taken for the next request's.
func (c *Client) attempt(ctx context.Context, id, line string, check func([]string) bool) (f []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	// The deadline covers the attempt's timeout and the call's; this
	// covers the caller canceling its context. (Leaving deadlines to the
	// conn keeps a tie at one instant, an answer arriving just as the
	// deadline passes, to the conn's own rule.)
	stop := context.AfterFunc(ctx, func() {
		if ctx.Err() != context.DeadlineExceeded {
			conn.SetDeadline(aLongTimeAgo)
		}
	})
	defer func() {
		if !stop() || err != nil {
			c.drop(conn) // it may have a deadline in the past, or a stray answer
		}
	}()
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return nil, err
	}
	answer, err := c.r.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, fmt.Errorf("kv: answer longer than MaxLine (%d)", MaxLine)
	case err != nil:
		return nil, err
	}
	f = strings.SplitN(string(answer[:len(answer)-1]), " ", 4)
	if len(f) < 2 || f[1] != id || !(f[0] == "ERR" && len(f) == 4 || check(f)) {
		return nil, fmt.Errorf("kv: garbled answer %q to %s %s", answer, strings.SplitN(line, " ", 2)[0], id)
	}
	return f, nil
}

// connect returns the kept connection, or dials a new one.
func (c *Client) connect(ctx context.Context) (net.Conn, error) {
	c.mu.Lock()
	conn, closed := c.conn, c.closed
	c.mu.Unlock()
	if closed {
		return nil, net.ErrClosed
	}
	if conn != nil {
		return conn, nil
	}
	conn, err := c.cfg.Dial(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		conn.Close()
		return nil, net.ErrClosed
	}
	c.conn, c.r = conn, bufio.NewReaderSize(conn, MaxLine)
	return conn, nil
}

// drop closes conn and forgets it.
func (c *Client) drop(conn net.Conn) {
	conn.Close()
	c.mu.Lock()
	if c.conn == conn {
		c.conn = nil
	}
	c.mu.Unlock()
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// The checks of answers, by verb (ERR is checked by attempt).
func checkCharge(f []string) bool {
	if len(f) != 3 || f[0] != "OK" {
		return false
	}
	_, err := strconv.ParseInt(f[2], 10, 64)
	return err == nil
}

func checkPut(f []string) bool { return len(f) == 2 && f[0] == "OK" }

func checkGet(f []string) bool {
	return len(f) == 3 && f[0] == "VALUE" || len(f) == 2 && f[0] == "NOTFOUND"
}
