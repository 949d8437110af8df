package harness_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/headwind-go/headwind/harness"
)

// TestDocWorkflow is the property of the package documentation's example.
// Keep in sync with package documentation (doc.go).
func TestDocWorkflow(t *testing.T) {
	harness.Check(t, func(t *harness.T) {
		var ledger harness.Ledger
		ln, err := t.Net.Host("server").Listen("tcp", ":80")
		if err != nil {
			t.Fatal(err)
		}
		srv := &payServer{ledger: &ledger, dedupe: true, seen: map[string]bool{}}
		go srv.serve(ln) // calls ledger.Apply(key) when it charges
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := range 5 {
			// pay issues, retries with backoff, and acks or gives up.
			pay(ctx, t.Net.Host("client"), "server:80", fmt.Sprint(i), &ledger)
		}
		if err := ledger.Check(); err != nil {
			t.Fatal(err)
		}
	})
}
