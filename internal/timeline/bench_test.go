package timeline

import (
	"io"
	"testing"
)

// BenchmarkWriteLarge renders the page of a 65,536-event trace.
func BenchmarkWriteLarge(b *testing.B) {
	p := every()
	p.Events = large(largeEvents)
	for b.Loop() {
		if err := Write(io.Discard, p); err != nil {
			b.Fatal(err)
		}
	}
}
