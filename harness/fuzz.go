package harness

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
)

// Fuzz makes f a fuzz target for a Check property: go test -fuzz mutates
// bytes, and each input is decoded into the same draws Check makes (seed,
// default profile, nemesis schedule, and whatever body draws), so the
// fuzzer's coverage of the system under test steers the search for fault
// schedules, and a property written for Check fuzzes unchanged:
//
//	func FuzzPayments(f *testing.F) {
//		harness.Fuzz(f, paymentsProperty)
//	}
//
// Each input runs in its own synctest bubble with its own network. An
// input too short for the draws it needs is skipped. A failing input is
// saved by the fuzzer under testdata/fuzz/FuzzPayments/ as usual, and from
// then on plain go test (no -fuzz) replays it deterministically as part of
// the seed corpus, printing the decoded faults and schedule as Check does.
//
// To add a failure found by Check to the corpus, let rapid write its
// failfile (it does unless -rapid.nofailfile) and add it with
// AddFailfiles before calling Fuzz.
//
// A saved input is a sequence of draws: when the property changes what it
// draws (or a headwind upgrade changes what Check draws), an old input
// decodes into another case and may pass. Fuzz again to refresh it.
func Fuzz(f *testing.F, body func(t *T)) {
	f.Helper()
	FuzzWith(f, Options{}, body)
}

// FuzzWith is Fuzz with options.
func FuzzWith(f *testing.F, opts Options, body func(t *T)) {
	f.Helper()
	opts, err := opts.withDefaults()
	if err != nil {
		f.Fatal(err)
	}
	// Seeds: a perfect network with no nemesis (all-zero draws), and a few
	// inputs long enough to draw faults and a schedule.
	c, err := campaignSettings()
	if err != nil {
		f.Fatal(err)
	}
	if c.active {
		// A campaign's share: this shard's cases as inputs (see
		// -headwind.shard), disjoint from every other shard's.
		cases := c.cases
		if cases == 0 {
			cases = 100 * c.n
		}
		for k := c.i; k < cases; k += c.n {
			f.Add(randomInput(c.caseSeed(k)))
		}
	} else {
		f.Add(make([]byte, 4096))
		r := rand.New(rand.NewPCG(1, 2))
		for range 4 {
			b := make([]byte, 4096)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cr, err := newCaseRunner(t, opts.Stall)
		if err != nil {
			t.Fatal(err)
		}
		defer cr.close()
		cr.fuzz = true
		opts := opts
		opts.run = cr
		rapid.MakeFuzz(func(rt *rapid.T) { cr.syncTest(rt, opts, body) })(t, data)
	})
}

// randomInput is 4 KiB drawn from seed: enough draws for faults and a
// schedule.
func randomInput(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, 4096)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// AddFailfiles adds the rapid failfiles that match pattern (for example
// "testdata/rapid/TestPayments/*.fail") to f's seed corpus, so that a
// failure Check found replays under the fuzz target too. It fails f if a
// file cannot be read.
func AddFailfiles(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		f.Fatalf("harness: AddFailfiles(%q): %v", pattern, err)
	}
	for _, file := range files {
		b, err := failfileInput(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// failfileInput returns the fuzz input that makes the same draws as the
// rapid failfile at path.
func failfileInput(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("harness: failfile: %w", err)
	}
	defer fh.Close()
	var out []byte
	sc := bufio.NewScanner(fh)
	header := true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if header { // "version#seed"
			header = false
			continue
		}
		u, err := strconv.ParseUint(line, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("harness: failfile %s: bad value %q", path, line)
		}
		out = binary.LittleEndian.AppendUint64(out, u)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("harness: failfile %s: %w", path, err)
	}
	if header {
		return nil, fmt.Errorf("harness: failfile %s: no data", path)
	}
	return out, nil
}

// FuzzScript turns fuzz bytes into a faultconn.Script that lets the fuzzer
// choose the cut and fate of every segment of one direction, for fuzzing
// framing and decoding code against hostile byte streams in Segments mode:
//
//	f.Fuzz(func(t *testing.T, data []byte) {
//		a, b := net.Pipe()
//		fa, _ := faultconn.Wrap(a, faultconn.Config{Mode: faultconn.Segments, Script: harness.FuzzScript(data)})
//		...
//	})
//
// Each segment takes two bytes of data: the first chooses its size (1 to
// 256 bytes, or all that is offered when it is 0), the second its fate
// (about three in four are delivered intact; the rest are lost,
// duplicated, held back so later ones overtake them, or have a bit
// flipped, chosen by a third byte). When data runs out, the rest of the
// stream goes through intact, in segments as large as offered.
func FuzzScript(data []byte) faultconn.Script {
	return &fuzzScript{data: data}
}

type fuzzScript struct{ data []byte }

func (s *fuzzScript) next() (byte, bool) {
	if len(s.data) == 0 {
		return 0, false
	}
	b := s.data[0]
	s.data = s.data[1:]
	return b, true
}

func (s *fuzzScript) Next(max int) faultconn.Fate {
	f := faultconn.Fate{Size: max}
	size, ok := s.next()
	if !ok {
		return f
	}
	if size != 0 {
		f.Size = int(size)
	}
	fate, _ := s.next()
	switch {
	case fate < 192:
	case fate < 208:
		f.Lose = true
	case fate < 224:
		f.Duplicate = true
	case fate < 240:
		f.Reorder = true
	default:
		bit, _ := s.next()
		f.Flip, f.Bit = true, int(bit)
	}
	return f
}
