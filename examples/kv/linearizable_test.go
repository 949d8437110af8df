package kv_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/examples/kv"
	"github.com/headwind-go/headwind/harness"
)

// TestLinearizable checks that the store behaves as a single copy of
// itself, whatever the network does: clients put and get two keys
// concurrently, each operation is recorded in a harness.History between
// the moment it is called and the moment its answer arrives, and the
// history must be linearizable. A put whose outcome the client never
// learned (it gave up, or its serial was refused as expired) stays
// pending: it may have taken effect at any point after its call, or
// never. Every value put is unique (the serial's ID), so a stale or
// repeated put cannot hide. After the network heals, a client on a host
// of its own reads both keys once more (Jepsen's final reads).
func TestLinearizable(t *testing.T) {
	harness.CheckWith(t, linearizableOptions, linearizable(false))
}

// TestTwinLinearizableNoDedupe is a buggy twin: the same property on a
// server without its dedupe table, where a retried put is applied again,
// after later puts. Its failure is the timeline page in docs/timeline.png;
// TestTimelineOfTwin runs it in a subprocess. Run it by hand to see one:
//
//	HEADWIND_TWIN=linearizable-no-dedupe go test ./examples/kv -run TestTwinLinearizableNoDedupe -rapid.nofailfile -headwind.trace=/tmp/hw
func TestTwinLinearizableNoDedupe(t *testing.T) {
	if harness.Twin() != "linearizable-no-dedupe" {
		t.Skip("a buggy twin (no dedupe table); TestTimelineOfTwin runs it in a subprocess")
	}
	harness.CheckWith(t, linearizableOptions, linearizable(true))
}

// linearizable is TestLinearizable's property, on a server without its
// dedupe table if noDedupe.
func linearizable(noDedupe bool) func(t *harness.T) {
	return func(t *harness.T) {
		srv, err := kv.NewServer(kv.Config{
			Capacity: rapid.IntRange(1, 64).Draw(t.T, "capacity"),
			Expiry:   time.Duration(rapid.IntRange(1, 100).Draw(t.T, "expiry (100ms)")) * 100 * time.Millisecond,
			NoDedupe: noDedupe,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		ln, err := t.Net.Host("server").Listen("tcp", ":80")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)

		type op struct {
			put bool
			key string
		}
		var h harness.History
		t.Record(&h) // a failing case's timeline page draws its operations
		var wg sync.WaitGroup
		for i := range rapid.IntRange(1, 3).Draw(t.T, "clients") {
			name := fmt.Sprintf("c%d", i+1)
			ops := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) op {
				return op{rapid.Bool().Draw(t, "put"), rapid.SampledFrom([]string{"x", "y"}).Draw(t, "key")}
			}), 1, 8).Draw(t.T, "ops")
			think := time.Duration(rapid.IntRange(0, 500).Draw(t.T, "think (ms)")) * time.Millisecond
			c, err := kv.NewClient(kv.ClientConfig{
				Name:           name,
				Addr:           "server:80",
				Dial:           t.Net.Host(name).DialContext,
				Seed:           t.Seed + uint64(i),
				AttemptTimeout: 500 * time.Millisecond,
				Timeout:        5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			wg.Go(func() {
				time.Sleep(time.Duration(i) * time.Microsecond) // each client on its own instants
				ctx := context.Background()
				for _, o := range ops {
					if o.put {
						s := c.NewSerial()
						p := h.Call(i, harness.Op{Kind: harness.OpPut, Key: o.key, Value: s.ID})
						if err := c.Put(ctx, s, o.key, s.ID); err == nil {
							p.Return(harness.Result{})
						}
					} else {
						p := h.Call(i, harness.Op{Kind: harness.OpGet, Key: o.key})
						if v, found, err := c.Get(ctx, o.key); err == nil {
							p.Return(harness.Result{Value: v, Found: found})
						}
					}
					time.Sleep(think)
				}
			})
		}
		wg.Wait()

		// Final reads, as Jepsen ends its tests: once the network has
		// healed and what it held has had time to land, each key is read
		// again, so a stale put that arrives after every client is done
		// is seen too. Under the default faults a connection's first RTO
		// is at most about 280ms, doubling: a segment held since the case
		// began is sent again by about 4.5s, so by 10s nothing is left.
		<-t.Healed()
		time.Sleep(10 * time.Second)
		reader, err := kv.NewClient(kv.ClientConfig{Name: "reader", Addr: "server:80", Dial: t.Net.Host("reader").DialContext,
			Seed: t.Seed, AttemptTimeout: 2 * time.Second, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()
		for _, key := range []string{"x", "y"} {
			p := h.Call(3, harness.Op{Kind: harness.OpGet, Key: key})
			v, found, err := reader.Get(context.Background(), key)
			if err != nil {
				t.Fatalf("final read of %s after the network healed: %v", key, err)
			}
			p.Return(harness.Result{Value: v, Found: found})
		}
		if err := harness.CheckLinearizable(&h); err != nil {
			t.Fatal(err)
		}
	}
}

// linearizableOptions puts the nemesis's steps where the operations are.
var linearizableOptions = harness.Options{Duration: 2 * time.Second}
