package conformance

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
)

// TestConformance is the conformance matrix; see the package doc.
func TestConformance(t *testing.T) {
	fronts := []string{fePipe, feTCP, feNetsim}
	if only := os.Getenv("HEADWIND_MATRIX_FRONTEND"); only != "" {
		fronts = []string{only} // to hunt a cell: e.g. faultconn/tcp with -rapid.checks=3000
	}
	rapid.Check(t, func(rt *rapid.T) {
		runCell(rt, rapid.SampledFrom(fronts).Draw(rt, "frontEnd"), cell{})
	})
}

// TestConformanceEveryCell runs every cell of the matrix, each front end
// x each mode x each fault kind (the kind always on, the others drawn;
// partition and a profile change are actions done once early in the
// case), a few cases each (cellChecks, unless -rapid.checks or
// RAPID_CHECKS says otherwise): TestConformance draws its cells, so a
// run of it may leave one out.
func TestConformanceEveryCell(t *testing.T) {
	if f := flag.Lookup("rapid.checks"); f != nil && f.Value.String() == f.DefValue && os.Getenv("RAPID_CHECKS") == "" {
		old := f.Value.String()
		f.Value.Set(strconv.Itoa(cellChecks))
		t.Cleanup(func() { f.Value.Set(old) })
	}
	kinds := append(slices.Clone(faultKinds), "partition", "profile")
	for _, fe := range []string{fePipe, feTCP, feNetsim} {
		for _, mode := range []faultconn.Mode{faultconn.Stream, faultconn.Segments} {
			for _, kind := range kinds {
				t.Run(fmt.Sprintf("%s/%v/%s", fe, mode, kind), func(t *testing.T) {
					rapid.Check(t, func(rt *rapid.T) { runCell(rt, fe, cell{mode: &mode, kind: kind}) })
				})
			}
		}
	}
}

// cellChecks is the cases TestConformanceEveryCell runs per cell.
const cellChecks = 3

// cell is what a case is made to cover: a mode (nil: drawn) and a fault
// kind or action ("": none).
type cell struct {
	mode *faultconn.Mode
	kind string
}

// runCell runs a case on front end fe, in a bubble unless fe is real.
func runCell(rt *rapid.T, fe string, c cell) {
	if fe == feTCP {
		runCase(rt, fe, c)
		return
	}
	rapid.SyncTest(rt, func(rt *rapid.T) { runCase(rt, fe, c) })
}

// The fault kinds a profile draws a subset of.
var faultKinds = []string{"latency", "jitter", "bandwidth", "loss", "burst", "duplicate", "reorder", "corrupt", "segment", "reset"}

// drawProfile draws a profile with a random subset of the fault kinds,
// and with the kind force (if one of faultKinds) always. Real time (TCP)
// gets millisecond delays and fast links.
func drawProfile(rt *rapid.T, label string, real bool, force string) faultconn.Profile {
	kinds := rapid.SliceOfDistinct(rapid.SampledFrom(faultKinds), func(s string) string { return s }).Draw(rt, label+".kinds")
	if slices.Contains(faultKinds, force) {
		// First, so that loss and burst, which exclude each other, do
		// not leave it out.
		kinds = append([]string{force}, slices.DeleteFunc(kinds, func(k string) bool { return k == force })...)
	}
	var p faultconn.Profile
	// A forced kind is never drawn as zero (rapid likes zero).
	least := func(k string, lo float64) float64 {
		if k == force {
			return lo
		}
		return 0
	}
	ms := func(name string, hi int) time.Duration {
		return time.Duration(rapid.IntRange(int(least(name, 1)), hi).Draw(rt, label+"."+name+"Ms")) * time.Millisecond
	}
	for _, k := range kinds {
		switch k {
		case "latency":
			p.Latency = ms("latency", pick(real, 2, 100))
		case "jitter":
			p.Jitter = ms("jitter", pick(real, 1, 50))
			p.Distribution = faultconn.Distribution(rapid.IntRange(0, 3).Draw(rt, label+".distribution"))
			p.Correlation = rapid.Float64Range(0, 1).Draw(rt, label+".correlation")
		case "bandwidth":
			p.Bandwidth = int64(rapid.IntRange(pick(real, 1_000_000, 10_000), 100_000_000).Draw(rt, label+".bandwidth"))
		case "loss":
			if p.Burst == nil {
				p.Loss = rapid.Float64Range(least(k, 0.01), 0.15).Draw(rt, label+".loss")
			}
		case "burst":
			if p.Loss == 0 {
				p.Burst = &faultconn.GilbertElliott{
					P: rapid.Float64Range(0.01, 0.3).Draw(rt, label+".burstP"),
					R: rapid.Float64Range(0.5, 1).Draw(rt, label+".burstR"),
				}
			}
		case "duplicate":
			p.Duplicate = rapid.Float64Range(least(k, 0.01), 0.5).Draw(rt, label+".duplicate")
		case "reorder":
			p.Reorder = rapid.Float64Range(least(k, 0.01), 0.5).Draw(rt, label+".reorder")
		case "corrupt":
			p.Corrupt = rapid.Float64Range(least(k, 0.01), 0.15).Draw(rt, label+".corrupt")
		case "segment":
			p.Segment = rapid.SampledFrom([]int{1, 7, 100, 536, 1460, 9000}).Draw(rt, label+".segment")
		case "reset":
			p.Reset = rapid.Float64Range(least(k, 0.005), 0.05).Draw(rt, label+".reset")
		}
	}
	return p
}

// hasKind reports whether p has the fault kind k.
func hasKind(p faultconn.Profile, k string) bool {
	switch k {
	case "latency":
		return p.Latency > 0
	case "jitter":
		return p.Jitter > 0
	case "bandwidth":
		return p.Bandwidth > 0
	case "loss":
		return p.Loss > 0
	case "burst":
		return p.Burst != nil
	case "duplicate":
		return p.Duplicate > 0
	case "reorder":
		return p.Reorder > 0
	case "corrupt":
		return p.Corrupt > 0
	case "segment":
		return p.Segment > 0
	case "reset":
		return p.Reset > 0
	}
	return false
}

func pick[T any](real bool, r, virtual T) T {
	if real {
		return r
	}
	return virtual
}

// machine is one case: the rig and the model.
type machine struct {
	r       *rig
	real    bool
	unclean bool // the model knows a reset may have followed (see close, write)
	wdl     time.Duration
	sleeps  []time.Duration
}

func runCase(rt *rapid.T, fe string, c cell) {
	real := fe == feTCP
	var leaks goleak.Option
	if real {
		leaks = goleak.IgnoreCurrent()
	}
	seed := rapid.Uint64().Draw(rt, "seed")
	var mode faultconn.Mode
	if c.mode != nil {
		mode = *c.mode
	} else {
		mode = faultconn.Mode(rapid.IntRange(0, 1).Draw(rt, "mode"))
	}
	window := rapid.SampledFrom([]int{0, 1500, 4096, 65536}).Draw(rt, "window")
	p := drawProfile(rt, "profile", real, c.kind)
	if slices.Contains(faultKinds, c.kind) && !hasKind(p, c.kind) {
		rt.Fatalf("the cell's kind %s is not in its profile %+v", c.kind, p)
	}
	tr := faultconn.NewTrace(1 << 19)
	var r *rig
	switch fe {
	case fePipe:
		r = newPipeRig(rt, seed, mode, window, p, tr)
	case feTCP:
		r = newTCPRig(rt, seed, mode, window, p, tr)
	default:
		r = newNetsimRig(rt, seed, mode, window, p, tr)
	}
	m := &machine{r: r, real: real}
	if real {
		m.wdl = 20 * time.Millisecond
		m.sleeps = []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 30 * time.Millisecond}
	} else {
		m.wdl = time.Second
		m.sleeps = []time.Duration{0, time.Millisecond, 50 * time.Millisecond, 300 * time.Millisecond, 2 * time.Second, 30 * time.Second, 20 * time.Minute}
	}
	go r.a.r.run()
	go r.b.r.run()
	// finish runs once: at the end of the case, or on a failure from
	// rapid's cleanup (which, after a bubble's deadlock, runs outside the
	// bubble: it must not wait for what the deadlock stopped).
	var started atomic.Bool
	finish := func() error {
		if started.Swap(true) {
			return nil
		}
		r.a.r.stop()
		r.b.r.stop()
		done := append(r.finish(), r.a.r.done, r.b.r.done)
		limit := time.After(pick(real, 2*time.Minute, 24*time.Hour))
		for i, ch := range done {
			select {
			case <-ch:
			case <-limit:
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				if dir := os.Getenv("HEADWIND_MATRIX_DUMPS"); dir != "" {
					os.WriteFile(filepath.Join(dir, fmt.Sprintf("hang-%d.txt", time.Now().UnixNano())), buf, 0o644)
				}
				return fmt.Errorf("closed, but not done (a hang): wait %d of %d (conn a, conn b, reader a, reader b; netsim: network, reader a, reader b)\n%s", i+1, len(done), buf)
			}
		}
		return nil
	}
	rt.Cleanup(func() {
		if err := finish(); err != nil {
			rt.Logf("cleanup after the failure: %v", err)
		}
	})

	sides := []*side{r.a, r.b}
	pickSide := func(rt *rapid.T) *side { return rapid.SampledFrom(sides).Draw(rt, "side") }
	newProfile := func(rt *rapid.T) {
		np := faultconn.Profile{}
		if rapid.Bool().Draw(rt, "faulty") {
			np = drawProfile(rt, "newProfile", real, "")
		}
		if err := r.setProfile(np); err != nil {
			rt.Fatalf("set profile %+v: %v", np, err)
		}
	}
	// A cell's action, once, with data in flight.
	switch c.kind {
	case "partition":
		m.write(rt, pickSide(rt))
		r.partition()
	case "profile":
		m.write(rt, pickSide(rt))
		newProfile(rt)
	}
	rt.Repeat(map[string]func(*rapid.T){
		"write":      func(rt *rapid.T) { m.write(rt, pickSide(rt)) },
		"pause":      func(rt *rapid.T) { pickSide(rt).r.setPaused(true) },
		"resume":     func(rt *rapid.T) { pickSide(rt).r.setPaused(false) },
		"closeWrite": func(rt *rapid.T) { m.closeWrite(rt, pickSide(rt)) },
		"close":      func(rt *rapid.T) { m.close(rt, pickSide(rt)) },
		"reset":      func(rt *rapid.T) { m.reset(rt, pickSide(rt)) },
		"partition":  func(*rapid.T) { r.partition() },
		"heal":       func(*rapid.T) { r.heal() },
		"profile":    newProfile,
		"sleep":      func(rt *rapid.T) { time.Sleep(rapid.SampledFrom(m.sleeps).Draw(rt, "sleep")) },
		"": func(rt *rapid.T) {
			m.settle()
			if err := m.check(false); err != nil {
				m.dump(err)
				rt.Fatalf("%s %v: %v", fe, mode, err)
			}
		},
	})

	// The end: heal, make healthy, let the readers read, and wait for the
	// final state.
	r.heal()
	if err := r.setProfile(faultconn.Profile{}); err != nil {
		rt.Fatalf("set healthy profile: %v", err)
	}
	r.a.r.setPaused(false)
	r.b.r.setPaused(false)
	if !real {
		time.Sleep(40 * time.Minute) // past any retransmission's give-up
		synctest.Wait()
		if err := m.check(true); err != nil {
			rt.Fatalf("%s %v: final state: %v", fe, mode, err)
		}
	} else {
		m.await(rt)
	}
	if err := finish(); err != nil {
		rt.Fatalf("%s %v: %v", fe, mode, err)
	}
	if real {
		if err := goleak.Find(leaks); err != nil {
			rt.Fatalf("%s %v: leaked goroutines after Done: %v", fe, mode, err)
		}
	}
}

// await waits, in real time, for the final state, as long as the readers
// make progress.
func (m *machine) await(rt *rapid.T) {
	const watchdog = 2 * time.Minute
	progress := -1
	last := time.Now()
	for {
		err := m.check(true)
		if err == nil {
			return
		}
		if errors.Is(err, errInvariant) {
			rt.Fatalf("%s %v: %v", m.r.fe, m.r.mode, err)
		}
		if p := m.r.a.r.state().reads + m.r.b.r.state().reads; p != progress {
			progress, last = p, time.Now()
		} else if time.Since(last) > watchdog {
			rt.Fatalf("%s %v: no progress for %v (a hang): %v", m.r.fe, m.r.mode, watchdog, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dump writes the case's trace and both ends' state into
// HEADWIND_MATRIX_DUMPS, if set, when an invariant broke: a real-time
// (TCP) case that fails once may not fail again with the same draws.
func (m *machine) dump(failure error) {
	dir := os.Getenv("HEADWIND_MATRIX_DUMPS")
	if dir == "" {
		return
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%v\n", failure)
	for _, s := range []*side{m.r.a, m.r.b} {
		st := s.r.state()
		fmt.Fprintf(&b, "%s: written %d, read %d, closed %v, fin %v, write errors %v, read errors %v\n",
			s.name, len(s.written), len(st.got), s.closed, s.fin, s.werrs, st.errs)
	}
	m.r.tr.WriteText(&b)
	os.WriteFile(filepath.Join(dir, fmt.Sprintf("invariant-%d.txt", time.Now().UnixNano())), b.Bytes(), 0o644)
}

// settle lets a bubble reach its next quiet instant.
func (m *machine) settle() {
	if m.r.bubble {
		synctest.Wait()
	}
}

func (m *machine) peer(s *side) *side {
	if s == m.r.a {
		return m.r.b
	}
	return m.r.a
}

func (m *machine) write(rt *rapid.T, s *side) {
	most := min(3*m.r.window, 20000)
	if p := m.r.maxSegment(); p > 0 && p <= 7 {
		most = min(most, 600)
	}
	n := rapid.IntRange(1, most).Draw(rt, "bytes")
	b := s.payload(n)
	err := s.c.SetWriteDeadline(time.Now().Add(m.wdl))
	if s.closed {
		if !errors.Is(err, net.ErrClosed) {
			rt.Fatalf("%s: SetWriteDeadline after Close: %v, want net.ErrClosed", s.name, err)
		}
	} else if err != nil {
		rt.Fatalf("%s: SetWriteDeadline on an open conn: %v, want nil (as on TCP)", s.name, err)
	}
	if m.peer(s).closed {
		m.unclean = true // data to a closed end draws a reset
	}
	k, err := s.c.Write(b)
	s.written = append(s.written, b[:k]...)
	switch {
	case err == nil:
		if k != n {
			rt.Fatalf("%s: Write returned %d of %d bytes and no error", s.name, k, n)
		}
	case s.closed:
		if !errors.Is(err, net.ErrClosed) || k != 0 {
			rt.Fatalf("%s: Write after Close: %d, %v; want 0, net.ErrClosed", s.name, k, err)
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			rt.Fatalf("%s: deadline error without Timeout(): %v", s.name, err)
		}
	default:
		s.werrs = append(s.werrs, err)
	}
}

// maxSegment is the smallest cut the rig's links may make; 0 for none.
func (r *rig) maxSegment() int {
	seg := 0
	for _, e := range r.tr.Events() {
		if e.Kind == faultconn.KindSend && (seg == 0 || e.Size < seg) {
			seg = e.Size
		}
	}
	return seg
}

func (m *machine) closeWrite(rt *rapid.T, s *side) {
	cw, ok := s.c.(interface{ CloseWrite() error })
	if !ok {
		rt.Fatalf("%s: %T has no CloseWrite", s.name, s.c)
	}
	err := cw.CloseWrite()
	switch {
	case s.closed:
		if !errors.Is(err, net.ErrClosed) {
			rt.Fatalf("%s: CloseWrite after Close: %v, want net.ErrClosed", s.name, err)
		}
	case m.r.fe == fePipe:
		if !errors.Is(err, errors.ErrUnsupported) {
			rt.Fatalf("%s: CloseWrite over net.Pipe: %v, want errors.ErrUnsupported", s.name, err)
		}
	case errors.Is(err, syscall.ENOTCONN) && (s.fin || m.unclean || m.resets()):
		// Linux: shutdown(2) on a connection that was reset, or again
		// once both ends shut down (TIME_WAIT).
	case err != nil:
		rt.Fatalf("%s: CloseWrite: %v", s.name, err)
	default:
		s.fin = true
	}
}

func (m *machine) close(rt *rapid.T, s *side) {
	m.settle()
	st := s.r.state()
	if m.r.mode == faultconn.Segments || !bytes.Equal(st.got, m.peer(s).written) {
		m.unclean = true // unread data (or, in Segments, maybe): a reset
	}
	err := s.c.Close()
	if s.closed {
		if !errors.Is(err, net.ErrClosed) {
			rt.Fatalf("%s: second Close: %v, want net.ErrClosed", s.name, err)
		}
		return
	}
	if err != nil {
		rt.Fatalf("%s: Close: %v", s.name, err)
	}
	s.closed, s.fin = true, true
}

func (m *machine) reset(rt *rapid.T, s *side) {
	if s.closed {
		return
	}
	if !m.r.reset(s) {
		return
	}
	m.unclean = true
	if !m.r.bubble {
		return
	}
	// Exact instants: the end that reset has its reads fail at once
	// (netsim's ResetConns resets both ends).
	synctest.Wait()
	ends := []*side{s}
	if m.r.fe == feNetsim {
		ends = []*side{m.r.a, m.r.b}
	}
	for _, e := range ends {
		st := e.r.state()
		if e.closed || st.paused || st.ended {
			continue
		}
		if !slices.ContainsFunc(st.errs, func(err error) bool { return isConnErr(err) || err == io.EOF }) {
			rt.Fatalf("%s: reset now, but its reader saw no ECONNRESET at once (errors %v)", e.name, st.errs)
		}
		for _, err := range st.errs {
			if errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, faultconn.ErrInjected) {
				rt.Fatalf("%s: the reset's ECONNRESET does not match ErrInjected: %v", e.name, err)
			}
		}
	}
}

// resets reports whether the trace shows a reset or a timeout.
func (m *machine) resets() bool {
	for _, e := range m.r.tr.Events() {
		if e.Kind == faultconn.KindReset || e.Kind == faultconn.KindTimeout {
			return true
		}
	}
	return false
}

func isConnErr(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ETIMEDOUT)
}

// errInvariant marks a broken invariant (as opposed to a final state not
// reached yet).
var errInvariant = errors.New("invariant broken")

// check checks the invariants and, if final, the final state. The error
// matches errInvariant when an invariant is broken.
func (m *machine) check(final bool) error {
	r := m.r
	sa, sb := r.a.r.state(), r.b.r.state()
	events := r.tr.Events() // after the readers: the trace is ahead of them
	if r.tr.Overflow() > 0 {
		return fmt.Errorf("%w: the trace overflowed", errInvariant)
	}
	resets, timeouts := false, false
	for _, e := range events {
		resets = resets || e.Kind == faultconn.KindReset || e.Kind == faultconn.KindTimeout
		timeouts = timeouts || e.Kind == faultconn.KindTimeout
	}
	unclean := m.unclean || resets
	dirs := []struct {
		x, y *side
		st   readerState
		i    int
	}{{r.a, r.b, sb, 0}, {r.b, r.a, sa, 1}}
	for _, d := range dirs {
		if err := m.checkDir(d.x, d.y, d.st, d.i, events, unclean, timeouts, final); err != nil {
			return fmt.Errorf("%s->%s: %w", d.x.name, d.y.name, err)
		}
	}
	if r.held != nil {
		ab, ba, ok := r.held()
		if ok && (ab > r.window || ba > r.window) {
			return fmt.Errorf("%w: holding %d and %d bytes, over the window of %d", errInvariant, ab, ba, r.window)
		}
	}
	return nil
}

func inv(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvariant, fmt.Sprintf(format, args...))
}

// checkDir checks what y read of what x wrote, and y's errors.
func (m *machine) checkDir(x, y *side, st readerState, i int, events []faultconn.Event, unclean, timeouts, final bool) error {
	r := m.r
	if st.problem != "" {
		return inv("%s", st.problem)
	}
	// Bytes.
	var complete func() error
	if r.mode == faultconn.Stream {
		if !bytes.HasPrefix(x.written, st.got) {
			return inv("read %d bytes that are not a prefix of the %d written (first difference at %d)", len(st.got), len(x.written), firstDiff(x.written, st.got))
		}
		if !unclean && !y.closed && r.fe != feTCP && len(x.written)-len(st.got) > 4*r.window {
			return inv("%d bytes written and not read, over 4 windows of %d", len(x.written)-len(st.got), r.window)
		}
		complete = func() error {
			if len(st.got) != len(x.written) {
				return fmt.Errorf("read %d of %d bytes", len(st.got), len(x.written))
			}
			return nil
		}
	} else {
		ref := r.out[i]
		if r.rename != nil {
			ref.name = r.rename()
		}
		out := readLog(events, ref)
		got, known := st.got, []bool(nil)
		var in *linkLog
		if r.in[1-i] != nil {
			in = readLog(events, *r.in[1-i])
			var err error
			got, known, err = rawFromIn(st.got, in)
			if err != nil {
				return inv("%v", err)
			}
		}
		if err := matchSegments(got, known, x.written, out.groups, true); err != nil {
			return inv("%v", err)
		}
		complete = func() error {
			for _, l := range []*linkLog{out, in} {
				if l == nil {
					continue
				}
				if n := l.unsettled(); n > 0 {
					return fmt.Errorf("%d segments sent and neither delivered nor lost", n)
				}
			}
			return matchSegments(got, known, x.written, out.groups, false)
		}
	}
	// Errors, writes and reads of y.
	connErrs := 0
	for _, err := range y.werrs {
		switch {
		case errors.Is(err, syscall.ECONNRESET):
			if !unclean {
				return inv("%s: write %v with no reset", y.name, err)
			}
			connErrs++
		case errors.Is(err, syscall.ETIMEDOUT):
			if !timeouts {
				return inv("%s: write %v, but no retransmission gave up", y.name, err)
			}
			connErrs++
		case errors.Is(err, syscall.EPIPE):
			if !(y.fin || unclean) {
				return inv("%s: write %v, but it did not shut down writing and there was no reset", y.name, err)
			}
		default:
			return inv("%s: write gave an unexpected error: %v", y.name, err)
		}
	}
	ended := false
	sawEOF := false
	for _, err := range st.errs {
		if ended && err != io.EOF && !errors.Is(err, net.ErrClosed) {
			return inv("%s: read gave %v after the end; want io.EOF", y.name, err)
		}
		switch {
		case err == io.EOF:
			if !(x.fin || connErrs > 0 || r.fe == fePipe && unclean) {
				return inv("%s: read io.EOF, but %s neither closed nor shut down writing (and no reset)", y.name, x.name)
			}
			if r.mode == faultconn.Stream && !unclean && !bytes.Equal(st.got, x.written) {
				return inv("%s: io.EOF after %d of %d bytes, with no reset", y.name, len(st.got), len(x.written))
			}
			ended, sawEOF = true, true
		case errors.Is(err, syscall.ECONNRESET):
			if !unclean {
				return inv("%s: read %v with no reset", y.name, err)
			}
			connErrs++
			ended = true
		case errors.Is(err, syscall.ETIMEDOUT):
			if !timeouts {
				return inv("%s: read %v, but no retransmission gave up", y.name, err)
			}
			connErrs++
			ended = true
		case errors.Is(err, net.ErrClosed):
			if !y.closed {
				return inv("%s: read %v, but it was not closed", y.name, err)
			}
		default:
			return inv("%s: read gave an unexpected error: %v", y.name, err)
		}
	}
	if connErrs > 1 {
		return inv("%s: a connection error reported %d times (reads %v, writes %v); want once", y.name, connErrs, st.errs, y.werrs)
	}
	if !final || unclean || y.closed {
		return nil
	}
	if err := complete(); err != nil {
		return err
	}
	if x.fin && !sawEOF {
		return fmt.Errorf("%s closed or shut down writing, but %s has not read io.EOF", x.name, y.name)
	}
	if !x.fin && len(st.errs) > 0 {
		return inv("%s: read errors %v, but %s is open", y.name, st.errs, x.name)
	}
	return nil
}

// unsettled counts the data segments with no fate yet: not delivered,
// lost, or blocked.
func (l *linkLog) unsettled() int {
	n := 0
	for seq := range l.bySeq {
		if l.deliv[seq] == 0 && !l.blocked[seq] && !l.lost[seq] {
			n++
		}
	}
	return n
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
