package saga_test

import (
	"net/http"
	"sync"

	"github.com/headwind-go/headwind/examples/saga"
	"github.com/headwind-go/headwind/netsim"
)

// services are the saga's steps, in booking order; each runs on the host
// of its name, port 80, and the orchestrator runs on host "agency".
var services = []string{"flight", "hotel", "car"}

// world is a saga system running on a network.
type world struct {
	services map[string]*saga.Service
	orch     *saga.Orchestrator
	servers  []*http.Server
	tr       *http.Transport
	wg       sync.WaitGroup
}

// setup says how to build a world.
type setup struct {
	capacity map[string]int // by service name; absent or zero: unlimited
	ledger   saga.Ledger    // records every service's effects and the orchestrator's requests
	twin     bool           // every service's cancel is non-idempotent (the buggy twin)
	// wrap, if not nil, wraps each service's handler.
	wrap func(service string, h http.Handler) http.Handler
}

// newWorld serves one Service per step on its own host, as s says, and
// builds an orchestrator on host "agency".
func newWorld(n *netsim.Network, s setup) (*world, error) {
	w := &world{services: make(map[string]*saga.Service)}
	var steps []saga.Step
	for _, name := range services {
		svc := &saga.Service{Name: name, Capacity: s.capacity[name], Ledger: s.ledger}
		if s.twin {
			saga.BreakCancel(svc)
		}
		ln, err := n.Host(name).Listen("tcp", ":80")
		if err != nil {
			w.close()
			return nil, err
		}
		var h http.Handler = svc
		if s.wrap != nil {
			h = s.wrap(name, h)
		}
		srv := &http.Server{Handler: h}
		w.wg.Go(func() { srv.Serve(ln) })
		w.services[name], w.servers = svc, append(w.servers, srv)
		steps = append(steps, saga.Step{Name: name, URL: "http://" + name})
	}
	w.tr = &http.Transport{DialContext: n.Host("agency").DialContext}
	w.orch = &saga.Orchestrator{Client: &http.Client{Transport: w.tr}, Steps: steps, Ledger: s.ledger}
	return w, nil
}

// booked returns the services at which trip is booked now.
func (w *world) booked(trip string) []string {
	var at []string
	for _, name := range services {
		if w.services[name].Booked(trip) {
			at = append(at, name)
		}
	}
	return at
}

// close stops the servers and the orchestrator's idle connections, and
// waits for the servers to return.
func (w *world) close() {
	if w.tr != nil {
		w.tr.CloseIdleConnections()
	}
	for _, srv := range w.servers {
		srv.Close()
	}
	w.wg.Wait()
}
