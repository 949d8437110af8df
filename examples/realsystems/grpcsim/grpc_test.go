package grpcsim_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
	"github.com/headwind-go/headwind/netsim"
)

// dialer is what grpc.WithContextDialer takes: a dial from host over the
// simulated network.
func dialer(h *netsim.Host) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return h.DialContext(ctx, "tcp", addr)
	}
}

// fataler is what startServer needs of a *testing.T or a *harness.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// startServer serves the standard health service on host:50051.
func startServer(t fataler, n *netsim.Network, host string) *grpc.Server {
	t.Helper()
	ln, err := n.Host(host).Listen("tcp", ":50051")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	return srv
}

// TestGRPCDeadlineUnderPartition: a unary call over a 10ms-each-way link.
// Under a partition the call's 1s deadline fires at exactly its instant
// (DeadlineExceeded, not a hang, not a transport error); after the heal
// the same client connection serves calls again.
func TestGRPCDeadlineUnderPartition(t *testing.T) {
	opts := harness.RunOptions{Seed: 1, FixedSeed: true, Default: faultconn.Profile{Latency: 10 * time.Millisecond}}
	harness.RunWith(t, opts, func(t *testing.T, n *netsim.Network) {
		srv := startServer(t, n, "server")
		defer srv.Stop()
		// passthrough: the address goes to the dialer as it is. The
		// default "dns" resolver would ask the real resolver, outside the
		// bubble.
		cc, err := grpc.NewClient("passthrough:///server:50051",
			grpc.WithContextDialer(dialer(n.Host("client"))),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		hc := healthpb.NewHealthClient(cc)
		check := func(timeout time.Duration) (time.Duration, error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "orders"})
			if err == nil && resp.Status != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("status %v, want SERVING", resp.Status)
			}
			return time.Since(start), err
		}

		// The first call dials (1 RTT), exchanges HTTP/2 prefaces and
		// settings, and makes the call: 2 RTTs in all.
		took, err := check(time.Second)
		if err != nil || took != 40*time.Millisecond {
			t.Fatalf("first call: %v after %v, want success after 40ms", err, took)
		}
		// On the open connection a call is one round trip.
		took, err = check(time.Second)
		if err != nil || took != 20*time.Millisecond {
			t.Fatalf("second call: %v after %v, want success after 20ms", err, took)
		}

		n.Partition([]string{"client"}, []string{"server"})
		took, err = check(time.Second)
		if status.Code(err) != codes.DeadlineExceeded || took != time.Second {
			t.Fatalf("partitioned call: %v after %v, want DeadlineExceeded after exactly 1s", err, took)
		}

		// The timed-out call's frames are still unacknowledged on the
		// connection (a Drop partition is silence, the connection stays
		// up): TCP retransmits them 200ms, 600ms and 1.4s after they were
		// first sent (RTO 200ms, doubling). The new call's frames queue
		// behind them, so after the heal at 1s they all leave with the
		// retransmission at 1.4s: the call returns 0.4s + 1 RTT after it
		// was made.
		n.Heal()
		took, err = check(5 * time.Second)
		if err != nil || took != 420*time.Millisecond {
			t.Fatalf("call after heal: %v after %v, want success after 420ms", err, took)
		}
		// And the connection is back to one round trip per call.
		took, err = check(time.Second)
		if err != nil || took != 20*time.Millisecond {
			t.Fatalf("second call after heal: %v after %v, want success after 20ms", err, took)
		}
	})
}

// TestGRPCUnderCheck runs gRPC under Check's drawn faults and nemesis
// (partitions, isolation, degraded links, resets, pauses): every call
// either answers SERVING or fails with a deadline or unavailable status,
// never another error or a hang; once the network has healed, a call that
// waits for the channel to be ready succeeds.
func TestGRPCUnderCheck(t *testing.T) {
	harness.Check(t, func(t *harness.T) {
		srv := startServer(t, t.Net, "server")
		defer srv.Stop()
		cc, err := grpc.NewClient("passthrough:///server:50051",
			grpc.WithContextDialer(dialer(t.Net.Host("client"))),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		hc := healthpb.NewHealthClient(cc)
		check := func(timeout time.Duration, opts ...grpc.CallOption) error {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "orders"}, opts...)
			if err == nil && resp.Status != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("status %v, want SERVING", resp.Status)
			}
			return err
		}
		for i := range 20 {
			switch err := check(time.Second); status.Code(err) {
			case codes.OK, codes.DeadlineExceeded, codes.Unavailable:
			default:
				t.Fatalf("call %d: %v", i, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
		<-t.Healed()
		// gRPC's reconnect backoff reaches 120s (plus jitter).
		if err := check(5*time.Minute, grpc.WaitForReady(true)); err != nil {
			t.Fatalf("after the heal: %v", err)
		}
	})
}
