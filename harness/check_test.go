package harness_test

import (
	"testing"

	"github.com/headwind-go/headwind/harness"
)

func TestCheckIdempotentServicePasses(t *testing.T) {
	harness.Check(t, payProperty(true))
}

// TestTwinDoubleApply is the buggy twin's property. It fails, as it
// should; it runs only when a test of the harness starts it in a
// subprocess (see TestCheckCatchesDoubleApply).
func TestTwinDoubleApply(t *testing.T) {
	if harness.Twin() != "double-apply" {
		t.Skip("the buggy twin runs only in a subprocess started by TestCheckCatchesDoubleApply")
	}
	harness.Check(t, payProperty(false))
}
