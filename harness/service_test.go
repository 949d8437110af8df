package harness_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// payServer is a tiny payment service: each request "PAY <key>" charges
// once per key and answers "OK <key>". With dedupe it remembers the keys
// it charged and answers repeats from memory, as an idempotent service
// must; without it (the buggy twin) it charges again.
type payServer struct {
	ledger *harness.Ledger
	dedupe bool

	mu   sync.Mutex
	seen map[string]bool
}

func (s *payServer) serve(ln net.Listener) { serveLines(ln, s.exec) }

// exec charges the payment of one request line and returns the answer.
func (s *payServer) exec(line string) string {
	key := strings.TrimPrefix(line, "PAY ")
	s.mu.Lock()
	if !s.dedupe || !s.seen[key] {
		s.seen[key] = true
		s.ledger.Apply(key)
	}
	s.mu.Unlock()
	return "OK " + key
}

// serveLines serves a line protocol on ln: a goroutine per connection
// answers each request line with exec's answer line.
func serveLines(ln net.Listener, exec func(line string) string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if _, err := fmt.Fprintf(c, "%s\n", exec(strings.TrimSpace(line))); err != nil {
					return
				}
			}
		}()
	}
}

// pay sends one payment with retries: a timeout per attempt, a new
// connection per retry, exponential backoff, and an overall deadline.
func pay(ctx context.Context, h *netsim.Host, addr, key string, ledger *harness.Ledger) {
	ledger.Issue(key)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if payOnce(ctx, h, addr, key) {
			ledger.Ack(key)
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func payOnce(ctx context.Context, h *netsim.Host, addr, key string) bool {
	return payOnceWithin(ctx, h, addr, key, 500*time.Millisecond)
}

// payOnceWithin makes one attempt at a payment, within timeout.
func payOnceWithin(ctx context.Context, h *netsim.Host, addr, key string, timeout time.Duration) bool {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := h.DialContext(actx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	deadline, _ := actx.Deadline()
	c.SetDeadline(deadline)
	if _, err := fmt.Fprintf(c, "PAY %s\n", key); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.TrimSpace(line) == "OK "+key
}

// payProperty is the exactly-once property of the payment service: under
// any drawn faults and nemesis schedule, every payment the client issues
// is charged at most once, and every acknowledged one exactly once.
func payProperty(dedupe bool) func(t *harness.T) {
	return func(t *harness.T) {
		var ledger harness.Ledger
		srv := &payServer{ledger: &ledger, dedupe: dedupe, seen: map[string]bool{}}
		ln, err := t.Net.Host("server").Listen("tcp", ":80")
		if err != nil {
			t.Fatal(err)
		}
		go srv.serve(ln)
		client := t.Net.Host("client")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Payments spread over the nemesis's 10s, so that its steps
		// meet them in flight.
		for i := range 10 {
			pay(ctx, client, "server:80", fmt.Sprintf("p%d", i), &ledger)
			time.Sleep(time.Second)
		}
		if err := ledger.Check(); err != nil {
			t.Fatal(err)
		}
	}
}

// faultProfile is a profile with latency d and nothing else.
func faultProfile(d time.Duration) faultconn.Profile { return faultconn.Profile{Latency: d} }
