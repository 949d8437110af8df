package redissim_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// serveMiniredis serves m on host:6379. miniredis only listens on real
// sockets, or serves connections handed to it: Dial starts its
// listener-less server (the pipe it returns is closed at once), and every
// connection accepted on the netsim listener is handed to ServeConn.
func serveMiniredis(t *testing.T, n *netsim.Network, host string, m *miniredis.Miniredis) net.Listener {
	t.Helper()
	c, err := m.Dial()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ln, err := n.Host(host).Listen("tcp", ":6379")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			m.Server().ServeConn(c)
		}
	}()
	return ln
}

// TestRedisTimeoutUnderPartition: go-redis over a 5ms-each-way link to
// miniredis. Under a partition a GET fails with a timeout at exactly its
// 500ms ReadTimeout; after the heal the client replaces the broken
// connection and the next GET takes a dial, a HELLO and a command: 30ms.
func TestRedisTimeoutUnderPartition(t *testing.T) {
	opts := harness.RunOptions{Seed: 1, FixedSeed: true, Default: faultconn.Profile{Latency: 5 * time.Millisecond}}
	harness.RunWith(t, opts, func(t *testing.T, n *netsim.Network) {
		m := miniredis.NewMiniRedis()
		defer m.Close()
		ln := serveMiniredis(t, n, "redis", m)
		defer ln.Close()
		client := redis.NewClient(&redis.Options{
			Addr: "redis:6379",
			Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return n.Host("app").DialContext(ctx, network, addr)
			},
			DialTimeout:  time.Second,
			ReadTimeout:  500 * time.Millisecond,
			WriteTimeout: 500 * time.Millisecond,
			// Retries back off for a random time from the global source:
			// with none, a failure is one attempt at one instant.
			MaxRetries: -1,
			// RESP2 without CLIENT SETINFO: a new connection costs a dial
			// and a HELLO 2 (sent whatever the protocol) before its first
			// command.
			Protocol:        2,
			DisableIdentity: true,
			// In its default auto mode, maintenance notifications resolve
			// the address's host name with the real resolver, inside the
			// bubble: the net package keeps a channel from that first
			// bubble, and the next test's lookup dies with "send on
			// synctest channel from outside bubble".
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
		defer client.Close()
		ctx := context.Background()
		timed := func(f func() error) (time.Duration, error) {
			start := time.Now()
			err := f()
			return time.Since(start), err
		}

		took, err := timed(func() error { return client.Set(ctx, "k", "v", 0).Err() })
		if err != nil || took != 30*time.Millisecond {
			t.Fatalf("first SET: %v after %v, want success after 30ms (dial, HELLO, command)", err, took)
		}
		took, err = timed(func() error { return client.Get(ctx, "k").Err() })
		if err != nil || took != 10*time.Millisecond {
			t.Fatalf("GET: %v after %v, want success after 10ms", err, took)
		}

		n.Partition([]string{"app"}, []string{"redis"})
		took, err = timed(func() error { return client.Get(ctx, "k").Err() })
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || took != 500*time.Millisecond {
			t.Fatalf("partitioned GET: %v after %v, want a timeout after exactly 500ms", err, took)
		}

		n.Heal()
		var v string
		took, err = timed(func() (err error) { v, err = client.Get(ctx, "k").Result(); return err })
		if err != nil || v != "v" || took != 30*time.Millisecond {
			t.Fatalf("GET after heal: %q, %v after %v, want \"v\" after 30ms (a new dial, HELLO, command)", v, err, took)
		}
	})
}
