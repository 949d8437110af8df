// Command demo shows headwind's network in a few seconds: real net/http
// code over a netsim network with latency and jitter, a partition that
// makes a request time out, recovery after Heal, and the trace of what
// happened to every segment.
//
//	go run ./examples/demo [-seed N] [-faults SPEC]
//
// It runs in real time (a main program cannot open a synctest bubble; the
// tests run the same things on virtual time). Exit status 0 means every
// step behaved as described.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

func main() {
	seed := flag.Uint64("seed", 1, "network seed")
	faults := flag.String("faults", "latency=20ms jitter=5ms distribution=normal", "default link profile (faultconn.ParseProfile syntax)")
	flag.Parse()
	if err := run(os.Stdout, *seed, *faults); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, seed uint64, faults string) error {
	p, err := faultconn.ParseProfile(faults)
	if err != nil {
		return err
	}
	trace := faultconn.NewTrace(1000)
	n, err := netsim.New(netsim.Config{Seed: seed, Default: p, Trace: trace})
	if err != nil {
		return err
	}
	defer n.Close()
	fmt.Fprintf(w, "network: seed %d, every link %v\n", seed, p)

	ln, err := n.Host("server").Listen("tcp", ":80")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s", r.RemoteAddr)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	tr := &http.Transport{DialContext: n.Host("client").DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	get := func() (string, time.Duration, error) {
		start := time.Now()
		resp, err := client.Get("http://server/")
		if err != nil {
			return "", time.Since(start), err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), time.Since(start), err
	}

	for i := 1; i <= 3; i++ {
		body, d, err := get()
		if err != nil {
			return fmt.Errorf("GET %d: %w", i, err)
		}
		note := "one round trip on the kept-alive conn"
		if i == 1 {
			note = "dial + request: two round trips"
		}
		fmt.Fprintf(w, "GET %d: %q in %v (%s)\n", i, body, d.Round(time.Millisecond), note)
	}

	n.Partition([]string{"client"}, []string{"server"})
	fmt.Fprintln(w, "partition: client | server")
	_, d, err := get()
	if err == nil {
		return errors.New("GET during the partition succeeded")
	}
	var te interface{ Timeout() bool }
	if !errors.As(err, &te) || !te.Timeout() {
		return fmt.Errorf("GET during the partition: want a timeout, got %w", err)
	}
	fmt.Fprintf(w, "GET during partition: timed out after %v, as the client's 2s timeout says\n", d.Round(100*time.Millisecond))

	n.Heal()
	fmt.Fprintln(w, "heal")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://server/", nil)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET after heal: %w", err)
	}
	resp.Body.Close()
	fmt.Fprintf(w, "GET after heal: %s in %v (a new conn: the timed-out one was dropped)\n", resp.Status, time.Since(start).Round(time.Millisecond))

	st := n.Stats().Total
	fmt.Fprintf(w, "stats: %d segments, %d bytes, %d lost in the partition, %d retransmitted\n", st.Segments, st.Bytes, st.Lost, st.Retransmitted)
	fmt.Fprintln(w, "trace, first events:")
	for i, e := range trace.Events() {
		if i == 8 {
			break
		}
		fmt.Fprintln(w, " ", e)
	}
	return nil
}
