package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/headwind-go/headwind/faultconn"
)

// FailureSchema names the schema of failure.json, the machine-readable
// report of a failing case; it changes when a field changes meaning or
// goes away (new fields may be added within one version).
const FailureSchema = "headwind.failure/v1"

// Failure is the machine-readable report of a failing Run, Check or Fuzz
// case, for CI tools and campaigns that aggregate failures: the harness
// writes it as NAME.failure.json beside the case's timeline page (into
// go test's -artifacts directory and the -headwind.trace directory),
// where NAME is the trace files' base name. Its JSON form is the schema
// named by Schema; every field is always present.
type Failure struct {
	// Schema is FailureSchema.
	Schema string `json:"schema"`
	// Test is the test's name (with rapid's, a Check test's).
	Test string `json:"test"`
	// Package is the package as go test takes it from the module root,
	// such as "./examples/kv".
	Package string `json:"package"`
	// Kind is "run" (harness.Run) or "check" (Check and Fuzz).
	Kind string `json:"kind"`
	// Headline is the report's first line; Violation is the property's
	// first error message (empty for Run, whose *testing.T keeps it).
	Headline  string `json:"headline"`
	Violation string `json:"violation"`
	// Replay is the command that replays the case from the module root,
	// as the report prints it (without the report's note naming a fuzz
	// input: see Input); Reproducible is the report's verdict on
	// whether the case replayed ("replays identically", "does not
	// replay: …"), empty when not checked.
	Replay       string `json:"replay"`
	Reproducible string `json:"reproducible"`
	// Input is a failing Fuzz input's corpus file, relative to the module
	// root (testdata/fuzz/FuzzX/<id> in its package), which Replay
	// runs; empty for Run and Check.
	Input string `json:"input"`
	// NetworkSeed is the seed of the case's network.
	NetworkSeed uint64 `json:"network_seed"`
	// Faults is the network's default profile in exact values
	// (faultconn.ParseProfile syntax).
	Faults string `json:"faults"`
	// Case is a Check case's exact draws, as its report's "case exact"
	// line prints them (faults, swarm, steps with instants in
	// nanoseconds, hosts); null for Run.
	Case json.RawMessage `json:"case"`
	// NemesisDid lists what the nemesis did, step by step, with host
	// names.
	NemesisDid []string `json:"nemesis_did"`
	// Trace counts the case's trace: events kept and discarded, links,
	// and events by kind ("send", "lose", "retransmit", …).
	Trace FailureTrace `json:"trace"`
	// Files are the paths of the files written for the case: the
	// timeline pages and the trace's text and JSON lines.
	Files []string `json:"files"`
}

// FailureTrace is the trace's part of a Failure.
type FailureTrace struct {
	Events    int            `json:"events"`
	Discarded uint64         `json:"discarded"`
	Links     int            `json:"links"`
	ByKind    map[string]int `json:"by_kind"`
}

// failureFile names a case's failure.json from a trace's base name.
func failureFile(base string) string { return sanitize(base) + ".failure.json" }

// newFailure builds the report of a failing case.
func newFailure(headline, faults string, seed uint64, extra []string, tr *faultconn.Trace, v *caseView) Failure {
	f := Failure{Schema: FailureSchema, Package: packageDir(), Kind: "run", Headline: headline, Faults: faults,
		NetworkSeed: seed, Case: json.RawMessage("null"), NemesisDid: []string{}, Files: []string{}}
	if v != nil {
		f.Test, f.Violation = v.name, v.violation
		if v.exact != "" {
			f.Kind, f.Case = "check", json.RawMessage(v.exact)
		}
		if v.did != nil {
			f.NemesisDid = v.did
		}
	}
	for _, l := range extra {
		switch {
		case strings.HasPrefix(l, "replay: "):
			f.Replay = strings.TrimPrefix(l, "replay: ")
			if cmd, input, ok := strings.Cut(f.Replay, fuzzInputNote); ok && strings.HasSuffix(input, ")") {
				f.Replay, f.Input = cmd, strings.TrimSuffix(input, ")")
			}
		case strings.HasPrefix(l, "reproducible: "):
			f.Reproducible = strings.TrimPrefix(l, "reproducible: ")
		}
	}
	f.Trace.ByKind = map[string]int{}
	if tr != nil {
		events := tr.Events()
		f.Trace.Events, f.Trace.Discarded, f.Trace.Links = len(events), tr.Overflow(), len(tr.Links())
		for _, e := range events {
			f.Trace.ByKind[e.Kind.String()]++
		}
	}
	return f
}

// writeFailure writes f as base's failure.json into each of dirs and
// returns the paths written.
func writeFailure(dirs []string, base string, f Failure) ([]string, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	b = append(b, '\n')
	var paths []string
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return paths, err
		}
		path := filepath.Join(dir, failureFile(base))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}
