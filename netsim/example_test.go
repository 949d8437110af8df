package netsim_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// TestDocHTTP is the package documentation's snippet, with its assertion.
// Keep in sync with package documentation (doc.go).
func TestDocHTTP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, _ := netsim.New(netsim.Config{Seed: 1, Default: faultconn.Profile{Latency: 50 * time.Millisecond}})
		defer n.Close()
		ln, _ := n.Host("server").Listen("tcp", ":80")
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
		})}
		go srv.Serve(ln)
		tr := &http.Transport{DialContext: n.Host("client").DialContext}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		start := time.Now()
		resp, err := client.Get("http://server/") // 1 RTT to dial, 1 RTT for the request: 200ms
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "hello" || time.Since(start) != 200*time.Millisecond {
			t.Fatalf("got %q after %v, want \"hello\" after 200ms", body, time.Since(start))
		}
		srv.Close()
	})
}

// Hosts get addresses in creation order, and a dialed connection's
// addresses are the hosts' own.
func Example() {
	n, err := netsim.New(netsim.Config{})
	if err != nil {
		panic(err)
	}
	defer n.Close()
	ln, _ := n.Host("db").Listen("tcp", ":5432")
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Fprintf(c, "hello %v\n", c.RemoteAddr())
		c.Close()
	}()
	c, err := n.Host("app").Dial("tcp", "db:5432")
	if err != nil {
		panic(err)
	}
	greeting, _ := io.ReadAll(c)
	fmt.Printf("%s -> %s: %s", c.LocalAddr(), c.RemoteAddr(), greeting)
	// Output: 198.18.0.2:49152 -> 198.18.0.1:5432: hello 198.18.0.2:49152
}

// A dial to a host with no listener on the port is refused, like a real
// one.
func ExampleHost_Dial_refused() {
	n, _ := netsim.New(netsim.Config{})
	defer n.Close()
	n.Host("db")
	_, err := n.Host("app").Dial("tcp", "db:5432")
	fmt.Println(err)
	// Output: dial tcp 198.18.0.1:5432: connect: connection refused
}
