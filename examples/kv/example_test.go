package kv_test

import (
	"context"
	"fmt"

	"github.com/headwind-go/headwind/examples/kv"
	"github.com/headwind-go/headwind/netsim"
)

// A client charges a card, then retries the charge with the same serial,
// as it would after a lost answer: the server answers the retry from its
// dedupe table and charges once.
func Example() {
	n, _ := netsim.New(netsim.Config{}) // a perfect network, in real time
	defer n.Close()
	srv, _ := kv.NewServer(kv.Config{})
	defer srv.Close()
	ln, _ := n.Host("server").Listen("tcp", ":80")
	go srv.Serve(ln)

	c, _ := kv.NewClient(kv.ClientConfig{Name: "pos1", Addr: "server:80", Dial: n.Host("pos1").DialContext})
	defer c.Close()
	ctx := context.Background()
	s := c.NewSerial() // written once, sent with every attempt
	total, _ := c.Charge(ctx, s, "alice", 500)
	fmt.Println(s.ID, "charged, total", total)
	total, _ = c.Charge(ctx, s, "alice", 500)
	fmt.Println(s.ID, "retried, total", total)
	s = c.NewSerial()
	total, _ = c.Charge(ctx, s, "alice", 250)
	fmt.Println(s.ID, "charged, total", total)
	st := srv.Stats()
	fmt.Println("applied", st.Applied, "replayed", st.Replayed)
	// Output:
	// pos1-1 charged, total 500
	// pos1-1 retried, total 500
	// pos1-2 charged, total 750
	// applied 2 replayed 1
}

// The protocol, line by line, with a dedupe table of two serials.
func ExampleServer_Exec() {
	srv, _ := kv.NewServer(kv.Config{Capacity: 2})
	defer srv.Close()
	for _, line := range []string{
		"CHARGE pos1-1 2025-06-01T12:00:00Z alice 500",
		"CHARGE pos1-1 2025-06-01T12:00:00Z alice 500", // a retry
		"CHARGE pos1-1 2025-06-01T12:00:00Z alice 900", // the serial on another request
		"PUT pos1-2 2025-06-01T12:00:01Z color blue",
		"GET pos1-3 color",
		"GET pos1-4 size",
		"CHARGE pos1-5 2025-06-01T12:00:02Z alice 250", // evicts pos1-1
		"CHARGE pos1-1 2025-06-01T12:00:00Z alice 500", // a retry, too late
		"CHARGE pos1-6 2025-06-01T11:59:59Z bob 100",   // written before pos1-1
	} {
		fmt.Printf("%s\n    %s\n", line, srv.Exec(line))
	}
	// Output:
	// CHARGE pos1-1 2025-06-01T12:00:00Z alice 500
	//     OK pos1-1 500
	// CHARGE pos1-1 2025-06-01T12:00:00Z alice 500
	//     OK pos1-1 500
	// CHARGE pos1-1 2025-06-01T12:00:00Z alice 900
	//     ERR pos1-1 conflict serial used before for: CHARGE pos1-1 2025-06-01T12:00:00Z alice 500
	// PUT pos1-2 2025-06-01T12:00:01Z color blue
	//     OK pos1-2
	// GET pos1-3 color
	//     VALUE pos1-3 blue
	// GET pos1-4 size
	//     NOTFOUND pos1-4
	// CHARGE pos1-5 2025-06-01T12:00:02Z alice 250
	//     OK pos1-5 750
	// CHARGE pos1-1 2025-06-01T12:00:00Z alice 500
	//     ERR pos1-1 expired not in the dedupe table and dated at or before its horizon 2025-06-01T12:00:00Z: it may have been applied and forgotten
	// CHARGE pos1-6 2025-06-01T11:59:59Z bob 100
	//     ERR pos1-6 expired not in the dedupe table and dated at or before its horizon 2025-06-01T12:00:00Z: it may have been applied and forgotten
}
