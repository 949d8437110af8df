package main

import (
	"bytes"
	"regexp"
	"testing"
)

// TestDemo runs the demo as go run would and checks that it shows what it
// promises: the bug found and shrunk, the seed, the minimal case, the
// message sequence, the replay command, and the correct service passing.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test in subprocesses")
	}
	var out bytes.Buffer
	if err := run(&out, 1, ""); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`found after \d+ passing cases, and shrunk`,
		`key "pos\d+-\d+" applied 2 times`,
		`(?m)^   seed: +\d+$`,
		`(?m)^   faults: +\S`,
		`(?m)^   schedule: +\S`,
		`What happened to pos\d+'s connections`,
		`conn \d+ +pos\d+ +──`,
		`HEADWIND_TWIN=no-dedupe go test ./examples/kv -run '\^TestTwinNoDedupe\$' -rapid.seed=\d+`,
		`PASS: 100 cases from seed \d+`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("the demo's output lacks %s:\n%s", want, out.String())
		}
	}
}
