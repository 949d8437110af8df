package lease_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/examples/lease"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// TestFencing checks that the storage never accepts a write from a lease
// holder after a write from a newer one, although a holder's host pauses
// (a GC pause, as the network sees it) while its lease expires.
func TestFencing(t *testing.T) {
	harness.Check(t, fencing(lease.StorageConfig{}))
}

// pauseOffset keeps the property's pauses off the instants of the
// clients' timers and of the network's arrivals.
const pauseOffset = 333 * time.Nanosecond

// fencing is the property on a storage cfg makes. The lock server and
// the storage run as harness services; two clients each take the lease
// 1 to 3 times and write 1 to 10 values under it, 100ms apart, checking
// by their own clocks before each write that the lease has at least
// 100ms left. The case draws when one client's host pauses, and for how
// long (up to 3s: a lease lasts 1s). Every write the storage accepts must
// carry a token at least as new as every write it accepted before.
func fencing(cfg lease.StorageConfig) func(t *harness.T) {
	return func(t *harness.T) {
		began := time.Now()
		var (
			mu       sync.Mutex
			accepted []lease.Write
			firstBad string // the first write accepted after a newer holder's
		)
		cfg.OnWrite = func(w lease.Write) {
			mu.Lock()
			defer mu.Unlock()
			for _, prev := range accepted {
				if prev.Token > w.Token && firstBad == "" {
					firstBad = fmt.Sprintf("the storage accepted %s's write %q with token %d at %v, after %s's write %q with token %d at %v: a stale lease holder's write",
						w.Client, w.Value, w.Token, w.At.Sub(began), prev.Client, prev.Value, prev.Token, prev.At.Sub(began))
					break
				}
			}
			accepted = append(accepted, w)
		}
		services := map[string]func(ctx context.Context, ln *netsim.Host) error{
			"lock": func(ctx context.Context, h *netsim.Host) error {
				s, err := lease.NewLockServer(lease.LockConfig{TTL: time.Second})
				if err != nil {
					return err
				}
				ln, err := h.Listen("tcp", ":80")
				if err != nil {
					return err
				}
				return s.Serve(ctx, ln)
			},
			"store": func(ctx context.Context, h *netsim.Host) error {
				ln, err := h.Listen("tcp", ":80")
				if err != nil {
					return err
				}
				return lease.NewStorage(cfg).Serve(ctx, ln)
			},
		}
		for _, host := range []string{"lock", "store"} {
			run := services[host]
			err := t.Service(host, harness.Service{Start: func(ctx context.Context, h *netsim.Host, _ *harness.Store) error {
				return run(ctx, h)
			}})
			if err != nil {
				t.Fatal(err)
			}
		}

		clients := []string{"c1", "c2"}
		paused := clients[rapid.IntRange(0, 1).Draw(t.T, "paused client")]
		pauseAt := time.Duration(rapid.IntRange(0, 2000).Draw(t.T, "pause at (ms)"))*time.Millisecond + pauseOffset
		pauseFor := time.Duration(rapid.IntRange(0, 3000).Draw(t.T, "pause for (ms)")) * time.Millisecond
		resumed := make(chan error, 1)
		go func() {
			time.Sleep(pauseAt)
			err := t.Pause(paused)
			time.Sleep(pauseFor)
			resumed <- errors.Join(err, t.Resume(paused))
		}()

		var wg sync.WaitGroup
		errs := make([]error, len(clients))
		for i, name := range clients {
			rounds := rapid.IntRange(1, 3).Draw(t.T, "rounds")
			writes := rapid.IntRange(1, 10).Draw(t.T, "writes")
			c, err := lease.NewClient(lease.ClientConfig{Name: name, Lock: "lock:80", Storage: "store:80", Dial: t.Net.Host(name).DialContext})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			wg.Go(func() {
				time.Sleep(time.Duration(i) * time.Microsecond) // each client on its own instants
				errs[i] = hold(c, name, rounds, writes)
			})
		}
		wg.Wait()
		if err := <-resumed; err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		time.Sleep(2 * time.Second) // what the pause held arrives
		mu.Lock()
		defer mu.Unlock()
		if firstBad != "" {
			t.Fatal(firstBad)
		}
	}
}

// hold takes the lease rounds times, each time writing up to writes
// values under it, 100ms apart, while the lease has 100ms left by the
// client's clock. It gives up waiting for the lease after 5s, and ends a
// round at the first error; it returns only errors no client of a bad
// network should get.
func hold(c *lease.Client, name string, rounds, writes int) error {
	ctx := context.Background()
	for r := range rounds {
		giveUp := time.Now().Add(5 * time.Second)
		token, until, err := c.Acquire(ctx)
		for err != nil && time.Now().Before(giveUp) {
			time.Sleep(100 * time.Millisecond)
			token, until, err = c.Acquire(ctx)
		}
		if err != nil {
			continue
		}
		for w := range writes {
			if time.Until(until) < 100*time.Millisecond {
				break // the lease is about to end, by this client's clock
			}
			if err := c.Write(ctx, token, fmt.Sprintf("%s.%d.%d", name, r, w)); err != nil {
				if strings.Contains(err.Error(), "malformed") {
					return err
				}
				break // stale, or unknown: take the lease again
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// TestTwinNoFencing is the buggy twin: a storage that ignores fencing
// tokens. It runs only in the subprocess TestCheckCatchesStaleWrite
// starts. Run it by hand to see a failure report:
//
//	HEADWIND_TWIN=no-fencing go test ./examples/lease -run TestTwinNoFencing -rapid.nofailfile
func TestTwinNoFencing(t *testing.T) {
	if harness.Twin() != "no-fencing" {
		t.Skip("the buggy twin (no fencing); TestCheckCatchesStaleWrite runs it in a subprocess")
	}
	harness.Check(t, fencing(lease.StorageConfig{NoFencing: true}))
}

// TestCheckCatchesStaleWrite proves the property: on the storage without
// fencing, Check must find a paused holder's write accepted after the
// next holder's.
func TestCheckCatchesStaleWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the buggy twin in a subprocess")
	}
	if filepath.IsAbs(os.Args[0]) {
		t.Chdir(t.TempDir()) // no failfile left by a run by hand replaces the search
	}
	res := harness.RunTwin(t, "TestTwinNoFencing", "no-fencing", "-rapid.checks=1000", "-rapid.shrinktime=0")
	require.True(t, res.Failed, "the storage without fencing passed the property:\n%s", res.Output)
	verdict := regexp.MustCompile(`\[rapid\] failed after (\d+) tests: (.*)`)
	caught := verdict.FindStringSubmatch(res.Output)
	require.NotNil(t, caught, "no rapid verdict in the output:\n%s", res.Output)
	require.Contains(t, caught[2], "a stale lease holder's write", "the twin failed otherwise:\n%s", res.Output)
	require.Regexp(t, `nemesis did: .*pause c\d.*resume c\d`, res.Output, "the report shows the pause")
	t.Logf("caught after %s passing cases: %s", caught[1], caught[2])
}
