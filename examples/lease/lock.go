package lease

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTTL is a lease's length where LockConfig.TTL is zero.
const DefaultTTL = time.Second

// LockConfig describes a LockServer. The zero value grants leases of
// DefaultTTL.
type LockConfig struct {
	// TTL is how long a lease lasts from the instant the server grants
	// it. Zero means DefaultTTL; at most an hour.
	TTL time.Duration
}

// LockServer grants a lease on one lock to one client at a time, for TTL:
// "ACQUIRE <client>" is answered "GRANTED <token> <ttl in ns>" when the
// lock is free, its lease has expired, or the client holds it (which
// renews it), else "BUSY <ns until it expires>". Every new holder gets a
// token one greater than the last: a fencing token. The server's clock
// decides when a lease expires; the holder's clock may disagree, or the
// holder may stop (a GC pause) and not notice. A LockServer is safe for
// concurrent use.
type LockServer struct {
	ttl time.Duration

	mu      sync.Mutex // guards the fields below
	holder  string
	expires time.Time
	token   uint64
}

// NewLockServer returns a lock server with the lock free. An invalid cfg
// is an error naming the field.
func NewLockServer(cfg LockConfig) (*LockServer, error) {
	if cfg.TTL < 0 || cfg.TTL > time.Hour {
		return nil, fmt.Errorf("lease: LockConfig.TTL %v out of range [0,1h] (0 means %v)", cfg.TTL, DefaultTTL)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	return &LockServer{ttl: cfg.TTL}, nil
}

// Serve answers requests on ln until ctx is done, then closes ln and its
// connections and returns once their goroutines have; it returns nil
// then, or ln's error if ln failed first.
func (s *LockServer) Serve(ctx context.Context, ln net.Listener) error {
	return serve(ctx, ln, s.Exec)
}

// Exec answers one request line (without its newline).
func (s *LockServer) Exec(req string) string {
	client, ok := strings.CutPrefix(req, "ACQUIRE ")
	if !ok || client == "" {
		return "ERR bad request"
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holder != "" && s.holder != client && now.Before(s.expires) {
		return "BUSY " + strconv.FormatInt(int64(s.expires.Sub(now)), 10)
	}
	if s.holder != client || !now.Before(s.expires) {
		s.token++
	}
	s.holder, s.expires = client, now.Add(s.ttl)
	return fmt.Sprintf("GRANTED %d %d", s.token, int64(s.ttl))
}
