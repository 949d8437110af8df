package lease

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout is a request's timeout where ClientConfig.Timeout is
// zero.
const DefaultTimeout = 300 * time.Millisecond

// ClientConfig describes a Client.
type ClientConfig struct {
	// Name is the client's name, a token (no spaces); required.
	Name string
	// Lock and Storage are the servers' addresses, "host:port".
	Lock, Storage string
	// Dial dials them; required (netsim's Host.DialContext in tests).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds each request. Zero means DefaultTimeout; at most a
	// minute.
	Timeout time.Duration
}

// ErrBusy: another client holds the lease. ErrStale: the storage has
// seen a newer token than the write's: the lease passed to another
// holder. Both come wrapped, with the details.
var (
	ErrBusy  = errors.New("lease: the lock is held by another client")
	ErrStale = errors.New("lease: stale fencing token")
)

// Client takes the lease and writes to the storage under it. It keeps
// one connection to each server, and makes one request at a time. A
// Client is safe for concurrent use.
type Client struct {
	cfg          ClientConfig
	lock, stored *line
}

// NewClient returns a client; an invalid cfg is an error naming the
// field.
func NewClient(cfg ClientConfig) (*Client, error) {
	var errs []error
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, " \n") {
		errs = append(errs, fmt.Errorf("lease: ClientConfig.Name %q: want a token", cfg.Name))
	}
	if cfg.Dial == nil {
		errs = append(errs, errors.New("lease: ClientConfig.Dial is nil"))
	}
	if cfg.Timeout < 0 || cfg.Timeout > time.Minute {
		errs = append(errs, fmt.Errorf("lease: ClientConfig.Timeout %v out of range [0,1m] (0 means %v)", cfg.Timeout, DefaultTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Client{cfg: cfg, lock: &line{addr: cfg.Lock, dial: cfg.Dial}, stored: &line{addr: cfg.Storage, dial: cfg.Dial}}, nil
}

// Acquire asks for the lease. It returns the fencing token and the
// instant the lease ends by the client's own clock: the TTL counted from
// when the request was sent, which is no later than the server's. It
// returns an error wrapping ErrBusy when another client holds it.
func (c *Client) Acquire(ctx context.Context) (token uint64, until time.Time, err error) {
	sent := time.Now()
	a, err := c.lock.call(ctx, "ACQUIRE "+c.cfg.Name, c.cfg.Timeout)
	if err != nil {
		return 0, time.Time{}, err
	}
	f := strings.Fields(a)
	switch {
	case len(f) == 2 && f[0] == "BUSY":
		return 0, time.Time{}, fmt.Errorf("%w for another %sns", ErrBusy, f[1])
	case len(f) != 3 || f[0] != "GRANTED":
		return 0, time.Time{}, badAnswer(a)
	}
	token, err1 := strconv.ParseUint(f[1], 10, 64)
	ttl, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, time.Time{}, badAnswer(a)
	}
	return token, sent.Add(time.Duration(ttl)), nil
}

// Write writes value (a token) to the storage under the fencing token.
// It returns an error wrapping ErrStale when the storage refuses the
// token. After a timeout or a network error, whether the write was
// accepted is unknown: it may still arrive.
func (c *Client) Write(ctx context.Context, token uint64, value string) error {
	a, err := c.stored.call(ctx, fmt.Sprintf("WRITE %d %s %s", token, c.cfg.Name, value), c.cfg.Timeout)
	switch {
	case err != nil:
		return err
	case a == "OK":
		return nil
	case strings.HasPrefix(a, "STALE "):
		return fmt.Errorf("%w: token %d, the storage has seen %s", ErrStale, token, strings.TrimPrefix(a, "STALE "))
	}
	return badAnswer(a)
}

// Close closes the client's connections.
func (c *Client) Close() error {
	c.lock.close()
	c.stored.close()
	return nil
}
