package harness

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/headwind-go/headwind/netsim"
)

// Sampler records the peak live heap and goroutine count of the process
// while a scenario runs, sampling at ticks of (virtual, inside a bubble)
// time. Each sample forces a garbage collection, so that it measures live
// memory, not garbage: keep the interval coarse. Memory and goroutine
// counts are process-wide: do not run anything else (parallel tests) while
// sampling. A Sampler is safe for concurrent use.
type Sampler struct {
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}

	mu   sync.Mutex // guards peak
	peak Usage
}

// Usage is what a Sampler measured.
type Usage struct {
	Heap       uint64 // peak live heap, bytes
	Goroutines int    // peak number of goroutines
	Samples    int    // samples taken
}

// String describes the peaks.
func (u Usage) String() string {
	return fmt.Sprintf("peak heap %s, peak goroutines %d (%d samples)", bytesString(u.Heap), u.Goroutines, u.Samples)
}

// StartSampler starts sampling every interval (zero means 100ms) until
// Stop. Start it inside the bubble the scenario runs in.
func StartSampler(interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	s := &Sampler{interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
	s.Sample()
	go s.run()
	return s
}

func (s *Sampler) run() {
	defer close(s.done)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			s.Sample()
		case <-s.stop:
			return
		}
	}
}

// Sample takes one sample now; call it at the moments of peak load the
// ticks might miss.
func (s *Sampler) Sample() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	g := runtime.NumGoroutine()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peak.Heap = max(s.peak.Heap, ms.HeapAlloc)
	s.peak.Goroutines = max(s.peak.Goroutines, g)
	s.peak.Samples++
}

// Stop takes a last sample, stops sampling and returns the peaks. Calling
// it again only returns the peaks.
func (s *Sampler) Stop() Usage {
	select {
	case <-s.stop:
	default:
		s.Sample()
		close(s.stop)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Bound says how a scenario's memory may grow with its load. A field out
// of its range makes MeasureBounded return an error naming it (and
// CheckBounded fail) before the scenario runs.
type Bound struct {
	// Load is the base load N handed to the scenario, >= 0; zero means
	// 100.
	Load int
	// Factor k: the scenario also runs at k·N. It is 0 or at least 2
	// (at 1 there is no overload), and k·N must fit in an int. Zero
	// means 10.
	Factor int
	// Slack is how much more memory k·N may use than N, as a fraction in
	// [0,MaxSlack]: 0.5 allows 1.5 times as much. Zero means 0.5. Memory
	// that grows in proportion to the load is exactly what this check
	// exists to catch.
	Slack float64
	// Floor is an absolute allowance in bytes added to the limit, so that
	// noise in tiny scenarios does not fail them. Zero means 1 MiB.
	Floor uint64
	// GoroutineSlack is how many more goroutines k·N may peak at than N.
	// Zero means 0 (a negative value disables the goroutine check).
	GoroutineSlack int
	// Interval is the sampling interval in virtual time, >= 0; zero means
	// 100ms.
	Interval time.Duration
}

// MaxSlack is the largest Bound.Slack: k·N may use up to 1001 times the
// memory of N. A bound looser than that checks nothing.
const MaxSlack = 1000

// withDefaults fills in the defaults of b, or returns one error naming
// every field out of its range.
func (b Bound) withDefaults() (Bound, error) {
	var errs []error
	if b.Load < 0 {
		errs = append(errs, fmt.Errorf("harness: Bound.Load %d out of range [0,∞) (0 means 100)", b.Load))
	}
	if b.Factor < 0 || b.Factor == 1 {
		errs = append(errs, fmt.Errorf("harness: Bound.Factor %d out of range [2,∞) (0 means 10)", b.Factor))
	}
	if !(b.Slack >= 0 && b.Slack <= MaxSlack) { // also catches NaN
		errs = append(errs, fmt.Errorf("harness: Bound.Slack %v out of range [0,%d] (0 means 0.5)", b.Slack, MaxSlack))
	}
	if b.Interval < 0 {
		errs = append(errs, fmt.Errorf("harness: Bound.Interval %v out of range [0,∞) (0 means 100ms)", b.Interval))
	}
	if len(errs) > 0 {
		return b, errors.Join(errs...)
	}
	if b.Load == 0 {
		b.Load = 100
	}
	if b.Factor == 0 {
		b.Factor = 10
	}
	if b.Slack == 0 {
		b.Slack = 0.5
	}
	if b.Floor == 0 {
		b.Floor = 1 << 20
	}
	if b.Load > math.MaxInt/b.Factor {
		return b, fmt.Errorf("harness: Bound.Load %d times Bound.Factor %d out of range [0,%d]", b.Load, b.Factor, math.MaxInt)
	}
	return b, nil
}

// BoundResult is what MeasureBounded measured: the growth above the
// baseline at loads N and k·N.
type BoundResult struct {
	Bound          Bound  // the bound checked, with defaults filled in
	Base, Scaled   Usage  // peaks at N and k·N, above the idle baseline
	HeapLimit      uint64 // the most heap k·N may peak at
	GoroutineLimit int    // the most goroutines k·N may peak at
}

// CheckBounded proves "bounded under overload": it runs scenario at load N
// and at k·N, each in its own synctest bubble with its own network, samples
// the peak live heap and goroutines of each, and fails t when k·N needs
// more than (1+Slack) times the memory of N (plus Floor), or more
// goroutines than N plus GoroutineSlack. The scenario must generate its
// load and wait for it to be handled (or refused) before returning: the
// last sample is taken when it returns, before its network is closed, so
// whatever the system still holds then counts. Keep the system's state
// reachable until then (a queue that became garbage is not measured), and
// let the scenario run for at least one sampling interval, or call
// Sampler.Sample at its moments of peak load, so that the peaks are seen
// at both loads.
//
// Memory is measured process-wide: do not call CheckBounded from parallel
// tests.
func CheckBounded(t *testing.T, b Bound, scenario func(t *testing.T, n *netsim.Network, load int)) {
	t.Helper()
	res, err := MeasureBounded(t, b, scenario)
	t.Logf("harness: %v", res)
	if err != nil {
		t.Fatal(err)
	}
}

// MeasureBounded is CheckBounded returning the failure as an error instead
// of failing t (which it fails only if the scenario itself fails).
func MeasureBounded(t *testing.T, b Bound, scenario func(t *testing.T, n *netsim.Network, load int)) (BoundResult, error) {
	t.Helper()
	b, err := b.withDefaults()
	res := BoundResult{Bound: b}
	if err != nil {
		return res, err
	}
	res.Base = measure(t, b, scenario, b.Load)
	res.Scaled = measure(t, b, scenario, b.Load*b.Factor)
	// Saturating: a Floor or GoroutineSlack near the type's maximum means
	// no limit, not a wrapped-around tiny one.
	res.HeapLimit = uint64(float64(res.Base.Heap) * (1 + b.Slack))
	if res.HeapLimit > math.MaxUint64-b.Floor {
		res.HeapLimit = math.MaxUint64
	} else {
		res.HeapLimit += b.Floor
	}
	res.GoroutineLimit = res.Base.Goroutines + min(b.GoroutineSlack, math.MaxInt-res.Base.Goroutines)
	var problems []string
	if res.Scaled.Heap > res.HeapLimit {
		problems = append(problems, fmt.Sprintf("peak heap grew from %s at load %d to %s at load %d, over the limit of %s",
			bytesString(res.Base.Heap), b.Load, bytesString(res.Scaled.Heap), b.Load*b.Factor, bytesString(res.HeapLimit)))
	}
	if b.GoroutineSlack >= 0 && res.Scaled.Goroutines > res.GoroutineLimit {
		problems = append(problems, fmt.Sprintf("peak goroutines grew from %d at load %d to %d at load %d, over the limit of %d",
			res.Base.Goroutines, b.Load, res.Scaled.Goroutines, b.Load*b.Factor, res.GoroutineLimit))
	}
	if len(problems) > 0 {
		return res, fmt.Errorf("harness: not bounded under load: %s", joinLines(problems))
	}
	return res, nil
}

// measure runs scenario at load in a bubble and returns its peaks above
// the idle baseline.
func measure(t *testing.T, b Bound, scenario func(t *testing.T, n *netsim.Network, load int), load int) Usage {
	var u Usage
	synctest.Test(t, func(t *testing.T) {
		n, err := netsim.New(netsim.Config{Seed: uint64(load)})
		if err != nil {
			t.Fatal(err)
		}
		base := StartSampler(b.Interval).Stop()
		s := StartSampler(b.Interval)
		func() {
			defer n.Close()
			defer s.Stop() // if the scenario fails
			scenario(t, n, load)
			u = s.Stop() // before Close frees what the scenario holds
		}()
		u.Heap = sub(u.Heap, base.Heap)
		u.Goroutines = max(u.Goroutines-base.Goroutines, 0)
	})
	return u
}

// String describes both runs and the limit.
func (r BoundResult) String() string {
	return fmt.Sprintf("bounded check: load %d: %v; load %d: %v; heap limit %s",
		r.Bound.Load, r.Base, r.Bound.Load*r.Bound.Factor, r.Scaled, bytesString(r.HeapLimit))
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

func bytesString(n uint64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func joinLines(s []string) string {
	out := ""
	for i, l := range s {
		if i > 0 {
			out += "; "
		}
		out += l
	}
	return out
}
