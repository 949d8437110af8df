package lease

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// StorageConfig describes a Storage.
type StorageConfig struct {
	// NoFencing makes the buggy twin: the storage accepts every write,
	// whatever its token, so a holder whose lease expired while it was
	// paused overwrites the next holder's writes. The tests must catch
	// it; never set it otherwise.
	NoFencing bool
	// OnWrite, if not nil, is called with every write the storage
	// accepts, in the order it accepts them, with its lock held (it must
	// not call the Storage). Tests check the order of tokens with it.
	OnWrite func(Write)
}

// Write is a write a Storage accepted.
type Write struct {
	Token  uint64    // the writer's fencing token
	Client string    // who wrote
	Value  string    // what
	At     time.Time // when the storage accepted it
}

// Storage holds one value that lease holders write: "WRITE <token>
// <client> <value>" is answered "OK", or "STALE <newest token>" when the
// token is older than the newest the storage has seen: a write from a
// holder whose lease has passed to someone else since. A Storage is safe
// for concurrent use.
type Storage struct {
	cfg StorageConfig

	mu     sync.Mutex // guards the fields below
	newest uint64
	value  string
}

// NewStorage returns an empty storage.
func NewStorage(cfg StorageConfig) *Storage { return &Storage{cfg: cfg} }

// Serve answers requests on ln until ctx is done (see LockServer.Serve).
func (s *Storage) Serve(ctx context.Context, ln net.Listener) error {
	return serve(ctx, ln, s.Exec)
}

// Exec answers one request line (without its newline).
func (s *Storage) Exec(req string) string {
	f := strings.Fields(req)
	if len(f) != 4 || f[0] != "WRITE" {
		return "ERR bad request"
	}
	token, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return "ERR bad token"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if token < s.newest && !s.cfg.NoFencing {
		return "STALE " + strconv.FormatUint(s.newest, 10)
	}
	s.newest = max(s.newest, token)
	s.value = f[3]
	if s.cfg.OnWrite != nil {
		s.cfg.OnWrite(Write{Token: token, Client: f[2], Value: f[3], At: time.Now()})
	}
	return "OK"
}

// Value returns the value last written.
func (s *Storage) Value() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value
}
