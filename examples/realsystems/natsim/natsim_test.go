package natsim_test

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/headwind-go/headwind/examples/realsystems/natsim"
	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// flushTimerPool empties nats.go's global pool of timers. nats.go keeps
// the timers of Request, NextMsg and Flush in a sync.Pool shared by the
// whole process; a timer made in one synctest bubble and reused in
// another is a fatal error that kills the test binary. A sync.Pool keeps
// what it holds for at most two garbage collections, so two forced
// collections between bubbles empty it. Call it outside any bubble,
// before each test that uses nats.go.
func flushTimerPool() {
	runtime.GC()
	runtime.GC()
}

func connect(t *testing.T, n *netsim.Network, host string, extra ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect("nats://nats:4222", append(natsim.Options(n.Host(host)), extra...)...)
	if err != nil {
		t.Fatalf("%s: connect: %v", host, err)
	}
	return nc
}

// TestNATSPubSubAcrossPartition: a subscriber cut off from the server
// misses nothing of a short partition: the server's TCP connection to it
// retransmits (RTO 200ms, doubling), and the message published during the
// partition arrives with the first retransmission after the heal.
func TestNATSPubSubAcrossPartition(t *testing.T) {
	flushTimerPool()
	opts := harness.RunOptions{Seed: 1, FixedSeed: true, Default: faultconn.Profile{Latency: 5 * time.Millisecond}}
	harness.RunWith(t, opts, func(t *testing.T, n *netsim.Network) {
		srv, err := natsim.Serve(n.Host("nats"), 4222)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown()
		sub := connect(t, n, "sub")
		defer sub.Close()
		pub := connect(t, n, "pub")
		defer pub.Close()
		msgs := make(chan *nats.Msg, 16)
		if _, err := sub.ChanSubscribe("orders", msgs); err != nil {
			t.Fatal(err)
		}
		if err := sub.Flush(); err != nil { // the server has the subscription
			t.Fatal(err)
		}

		start := time.Now()
		if err := pub.Publish("orders", []byte("one")); err != nil {
			t.Fatal(err)
		}
		m := <-msgs
		if got := time.Since(start); string(m.Data) != "one" || got != 10*time.Millisecond {
			t.Fatalf("got %q after %v, want \"one\" after 10ms (pub→server→sub)", m.Data, got)
		}

		n.Partition([]string{"sub"}, []string{"nats", "pub"})
		start = time.Now()
		if err := pub.Publish("orders", []byte("two")); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-msgs:
			t.Fatalf("got %q across the partition", m.Data)
		case <-time.After(2 * time.Second):
		}
		n.Heal()
		// The server forwarded "two" at 5ms; retransmissions at 205ms,
		// 605ms, 1405ms were lost, the one at 3005ms gets through.
		m = <-msgs
		if got := time.Since(start); string(m.Data) != "two" || got != 3010*time.Millisecond {
			t.Fatalf("got %q after %v, want \"two\" after 3.01s", m.Data, got)
		}
	})
}

// TestNATSReconnectAfterServerRestart: the server's host crashes (and its
// nats-server with it) and comes back 3s later with a new nats-server. The
// client notices by its pings (every 1s, at most 2 outstanding), retries
// every 500ms with no jitter, reconnects at an exact instant, restores its
// subscription and gets messages again.
//
// nats.go holds its connection's mutex while it dials: a Publish made
// during a reconnect to a silent host would wait on that mutex, which is
// not a durable block, and stop the bubble's clock. So the test waits for
// the reconnect handler before it publishes.
func TestNATSReconnectAfterServerRestart(t *testing.T) {
	flushTimerPool()
	opts := harness.RunOptions{Seed: 1, FixedSeed: true, Default: faultconn.Profile{Latency: 5 * time.Millisecond}}
	harness.RunWith(t, opts, func(t *testing.T, n *netsim.Network) {
		srv, err := natsim.Serve(n.Host("nats"), 4222)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		disconnected := make(chan time.Duration, 1)
		reconnected := make(chan time.Duration, 1)
		nc := connect(t, n, "app",
			nats.PingInterval(time.Second), nats.MaxPingsOutstanding(2),
			nats.ReconnectWait(500*time.Millisecond), nats.MaxReconnects(-1),
			nats.DisconnectErrHandler(func(*nats.Conn, error) { disconnected <- time.Since(start) }),
			nats.ReconnectHandler(func(*nats.Conn) { reconnected <- time.Since(start) }))
		defer nc.Close()
		msgs := make(chan *nats.Msg, 16)
		if _, err := nc.ChanSubscribe("orders", msgs); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}

		crashAt := time.Since(start)
		srv.Shutdown()
		if err := n.Crash("nats"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		if err := n.Restart("nats"); err != nil {
			t.Fatal(err)
		}
		srv, err = natsim.Serve(n.Host("nats"), 4222)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown()

		d, r := <-disconnected, <-reconnected
		t.Logf("crash at %v, disconnected at %v, reconnected at %v", crashAt, d, r)
		if d != wantDisconnect || r != wantReconnect {
			t.Fatalf("disconnected at %v, reconnected at %v; want %v and %v", d, r, wantDisconnect, wantReconnect)
		}
		if err := nc.Publish("orders", []byte("back")); err != nil {
			t.Fatal(err)
		}
		m := <-msgs
		if string(m.Data) != "back" || time.Since(start) != r+10*time.Millisecond {
			t.Fatalf("got %q at %v, want \"back\" one round trip after the reconnect", m.Data, time.Since(start))
		}
	})
}

// The instants of TestNATSReconnectAfterServerRestart. The client's
// pings at 1.02s and 2.02s go unanswered (the host crashed at 30ms); at
// the third, 3.02s, two are outstanding and it drops the connection as
// stale. With one server in its pool it waits ReconnectWait before every
// attempt, so it dials at 3.52s (the host is back since 3.03s) and its
// handshake (INFO, CONNECT, PING, PONG) completes at 3.54s.
const (
	wantDisconnect = 3020 * time.Millisecond
	wantReconnect  = 3540 * time.Millisecond
)

// TestNATSTimerPoolAcrossBubbles shows the pitfall flushTimerPool avoids:
// in a child process, bubbles that each Flush one nats.go connection kill
// the binary when nothing empties the pool between them, and pass when
// flushTimerPool runs before each.
func TestNATSTimerPoolAcrossBubbles(t *testing.T) {
	if mode := os.Getenv("NATSIM_POOL_CHILD"); mode != "" {
		debug.SetGCPercent(-1) // no collection empties the pool by chance
		for i := range 20 {
			if mode == "fixed" {
				flushTimerPool()
			}
			t.Run("bubble", func(t *testing.T) {
				harness.Run(t, func(t *testing.T, n *netsim.Network) {
					srv, err := natsim.Serve(n.Host("nats"), 4222)
					if err != nil {
						t.Fatal(err)
					}
					defer srv.Shutdown()
					nc := connect(t, n, "app")
					defer nc.Close()
					if err := nc.Flush(); err != nil {
						t.Fatalf("bubble %d: %v", i, err)
					}
				})
			})
		}
		return
	}
	child := func(mode string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNATSTimerPoolAcrossBubbles$", "-test.count=1")
		cmd.Env = append(os.Environ(), "NATSIM_POOL_CHILD="+mode)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := child("pooled")
	if err == nil || !strings.Contains(out, "bubble") {
		t.Fatalf("bubbles sharing nats.go's timer pool: want the binary killed, got err %v:\n%s", err, out)
	}
	t.Logf("without the fix: %s", firstFatal(out))
	if out, err := child("fixed"); err != nil {
		t.Fatalf("with flushTimerPool: %v\n%s", err, out)
	}
}

func firstFatal(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "fatal error") || strings.HasPrefix(l, "panic") {
			return l
		}
	}
	return "(no fatal line)"
}
